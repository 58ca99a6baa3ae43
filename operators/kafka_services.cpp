#include "operators/kafka_services.h"

#include <stdexcept>

#include "src/config/load.h"
#include "src/kafka/dead_letter_sink.h"
#include "src/kafka/error.h"

namespace sluice::operators {

namespace {

// Keys named again where a value's key path is reported (kafka::PropertySources).
constexpr const char* kSection = "kafka";
constexpr const char* kBootstrapServers = "bootstrap_servers";
constexpr const char* kInstanceId = "instance_id";
constexpr const char* kProperties = "properties";
constexpr const char* kConsumerProperties = "consumer_properties";
constexpr const char* kProducerProperties = "producer_properties";

const config::Options<KafkaSection>& kafka_options() {
  static const config::Options<KafkaSection> options = [] {
    using K = KafkaSection;
    config::Options<K> o;
    o.add(kBootstrapServers, &K::bootstrap_servers,
          "Kafka bootstrap servers, host:port[,host:port...]");
    o.add(kInstanceId, &K::instance_id,
          "Stable identity of this process, one per replica (a StatefulSet pod name, e.g. "
          "${SLUICE_INSTANCE_ID}): the consumer's group.instance.id (static membership: a restart "
          "within session.timeout.ms keeps its partitions, no rebalance) and the base of the "
          "transactional.id. Empty: dynamic membership");
    o.add(kProperties, &K::properties,
          "librdkafka properties for every client (security.protocol, sasl.*: use ${ENV} for "
          "secrets)");
    o.add(kConsumerProperties, &K::consumer_properties,
          "librdkafka properties for the consumer only");
    o.add(kProducerProperties, &K::producer_properties,
          "librdkafka properties for the producer only (linger.ms, compression.type, ...); "
          "enable.idempotence stays true");
    o.add("delivery", &K::exactly_once,
          "at_least_once: an input offset is committed once all its outputs are acknowledged (a "
          "crash re-delivers; duplicates are possible). exactly_once: outputs and input offsets "
          "are committed together in Kafka transactions, read by read_committed consumers (needs "
          "Apache Kafka 2.5+ and kafka.instance_id)")
        .choices({{"at_least_once", false}, {"exactly_once", true}});
    o.add("transaction_interval", &K::transaction_interval,
          "exactly_once: how often the transaction is committed (results become visible to "
          "read_committed consumers then)")
        .range(0.01, 60);
    o.add("refusal_timeout", &K::refusal_timeout,
          "How long the producer retries records a broker refuses (an authorization failure, an "
          "unknown topic: often brief) before the pipeline fails, naming the topic and the "
          "error; 0: fail at once")
        .range(0, 86400);
    o.add("dead_letter_topic", &K::dead_letter_topic,
          "Topic for records that cannot be processed (headers sluice.error, sluice.stage, "
          "sluice.source.*); empty: log them and move on");
    return o;
  }();
  return options;
}

}  // namespace

void register_kafka_section(OperatorRegistry& registry) {
  registry.add_section(SectionSpec{
      .name = kSection,
      .description =
          "Kafka cluster and client settings shared by kafka_source, kafka_sink and dead letters",
      .declare = [](config::Schema& s) { kafka_options().declare(s); },
  });
}

KafkaSection kafka_section(const Services& services) {
  return kafka_options().read(services.root().section(kSection));
}

kafka::PropertySource property_source(const config::Section& section, const std::string& key) {
  return {section.path_of(key), section.from_environment(key)};
}

kafka::Properties kafka_client_properties(const Services& services, KafkaClient client,
                                          kafka::PropertySources* sources) {
  const config::Section kafka = services.root().section(kSection);
  const KafkaSection k = kafka_options().read(kafka);
  const bool consumer = client == KafkaClient::kConsumer;
  const std::pair<std::string, const std::map<std::string, std::string>*> maps[] = {
      {kProperties, &k.properties},
      {consumer ? kConsumerProperties : kProducerProperties,
       consumer ? &k.consumer_properties : &k.producer_properties}};
  kafka::Properties p;
  for (const auto& [map, values] : maps) {
    for (const auto& [key, value] : *values) {
      p[key] = value;
      if (sources) (*sources)[key] = property_source(kafka, map + "." + key);
    }
  }
  if (sources) (*sources)["bootstrap.servers"] = property_source(kafka, kBootstrapServers);
  return p;
}

void check_kafka_conf(const std::function<kafka::Conf()>& build) {
  try {
    build();
  } catch (const kafka::PropertyError& e) {
    throw config::ConfigError(kSection, {{e.path(), e.reason()}});
  }
}

std::string transactional_id(const Services& services) {
  const KafkaSection kafka = kafka_section(services);
  if (auto given = kafka.producer_properties.find("transactional.id");
      given != kafka.producer_properties.end())
    return given->second;
  const std::string& instance = kafka.instance_id;
  if (instance.empty()) {
    throw config::ConfigError(
        kSection, {{services.root().section(kSection).path_of(kInstanceId),
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
  const KafkaSection kafka = kafka_section(services);
  kafka::Output& out = services.shared<kafka::Output>([&] {
    kafka::ProducerConfig pc;
    pc.bootstrap_servers = kafka.bootstrap_servers;
    pc.properties = kafka_client_properties(services, KafkaClient::kProducer, &pc.sources);
    pc.refusal_timeout = kafka.refusal_timeout;
    if (kafka.exactly_once) pc.transactional_id = transactional_id(services);
    check_kafka_conf([&] { return kafka::producer_conf(pc); });
    return std::make_unique<kafka::Output>(std::move(pc), services.metrics(),
                                           services.pipeline_name());
  });
  const std::string& dlq = kafka.dead_letter_topic;
  if (!dlq.empty() && !services.dead_letters()) {
    auto& sink = services.shared<kafka::DeadLetterSink>(
        [&] { return std::make_unique<kafka::DeadLetterSink>(dlq, out); });
    services.set_dead_letters(&sink);
  }
  return out;
}

}  // namespace sluice::operators
