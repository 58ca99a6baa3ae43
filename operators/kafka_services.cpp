#include "operators/kafka_services.h"

#include <stdexcept>

#include "src/config/load.h"
#include "src/kafka/dead_letter_sink.h"
#include "src/kafka/error.h"

namespace sluice::operators {

kafka::PropertySource property_source(const config::Section& section, const std::string& key) {
  return {section.path_of(key), section.from_environment(key)};
}

kafka::Properties kafka_client_properties(const config::Section& kafka, const std::string& specific,
                                          kafka::PropertySources* sources) {
  kafka::Properties p;
  for (const std::string& map : {std::string("properties"), specific}) {
    for (auto& [k, v] : kafka.string_map(map)) {
      p[k] = v;
      if (sources) (*sources)[k] = property_source(kafka, map + "." + k);
    }
  }
  if (sources) (*sources)["bootstrap.servers"] = property_source(kafka, "bootstrap_servers");
  return p;
}

void check_kafka_conf(const std::function<kafka::Conf()>& build) {
  try {
    build();
  } catch (const kafka::PropertyError& e) {
    throw config::ConfigError("kafka", {{e.path(), e.reason()}});
  }
}

std::string transactional_id(const Services& services) {
  config::Section kafka = services.root().section("kafka");
  const auto producer_properties = kafka.string_map("producer_properties");
  if (auto given = producer_properties.find("transactional.id"); given != producer_properties.end())
    return given->second;
  const std::string instance = kafka.string("instance_id");
  if (instance.empty()) {
    throw config::ConfigError(
        "kafka", {{kafka.path_of("instance_id"),
                   "kafka.delivery exactly_once needs a stable id per process (one per replica, "
                   "e.g. ${SLUICE_INSTANCE_ID}): it names the transactional producer, so that a "
                   "restart fences its predecessor"}});
  }
  // Unique per application (the consumer group) and instance.
  std::string group = services.pipeline_name();
  for (const config::Section& stage : services.root().list("stages")) {
    if (stage.string("type") == "kafka_source") group = stage.string("group");
  }
  return "sluice-" + group + "-" + instance;
}

kafka::Output& kafka_output(Services& services) {
  config::Section kafka = services.root().section("kafka");
  kafka::Output& out = services.shared<kafka::Output>("kafka.output", [&] {
    kafka::ProducerConfig pc;
    pc.bootstrap_servers = kafka.string("bootstrap_servers");
    pc.properties = kafka_client_properties(kafka, "producer_properties", &pc.sources);
    pc.refusal_timeout =
        std::chrono::duration_cast<std::chrono::milliseconds>(kafka.duration("refusal_timeout"));
    if (kafka.string("delivery") == "exactly_once")
      pc.transactional_id = transactional_id(services);
    check_kafka_conf([&] { return kafka::producer_conf(pc); });
    return std::make_unique<kafka::Output>(std::move(pc), services.metrics(),
                                           services.pipeline_name());
  });
  const std::string dlq = kafka.string("dead_letter_topic");
  if (!dlq.empty() && !services.dead_letters()) {
    auto& sink = services.shared<kafka::DeadLetterSink>(
        "kafka.dead_letters", [&] { return std::make_unique<kafka::DeadLetterSink>(dlq, out); });
    services.set_dead_letters(&sink);
  }
  return out;
}

}  // namespace sluice::operators
