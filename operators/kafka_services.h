// What the Kafka source and sink share through the pipeline's Services: the
// `kafka:` section (declared here, once for all of them), one Kafka output
// (producer) built from it, with the
// dead-letter sink on top of it (src/kafka/dead_letter_sink.h) when
// kafka.dead_letter_topic is set, and the librdkafka properties each client
// gets from that section.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "operators/operator_spec.h"
#include "src/kafka/output.h"

namespace sluice::operators {

// The `kafka:` section: cluster and client settings shared by kafka_source,
// kafka_sink and dead letters. The initializers are the keys' defaults.
struct KafkaSection {
  std::string bootstrap_servers = "localhost:9092";
  std::string instance_id;  // static membership and the transactional.id's base; "": dynamic
  std::map<std::string, std::string> properties;           // every client
  std::map<std::string, std::string> consumer_properties;  // over `properties`
  std::map<std::string, std::string> producer_properties;
  bool exactly_once = false;  // delivery: at_least_once | exactly_once
  std::chrono::milliseconds transaction_interval{500};
  std::chrono::milliseconds refusal_timeout{60'000};
  std::string dead_letter_topic;  // "": dead letters are logged
};

// Adds the `kafka:` section to the pipeline file (the wiring calls it once,
// before the Kafka operators are registered).
void register_kafka_section(OperatorRegistry& registry);

// The pipeline's `kafka:` section, read from its validated document.
KafkaSection kafka_section(const Services& services);

enum class KafkaClient { kConsumer, kProducer };

// The pipeline's shared Kafka output (from the `kafka:` section), created on
// first use and owned by `services`. When kafka.dead_letter_topic is set, the
// first call also installs a kafka::DeadLetterSink on top of it as the
// pipeline's dead-letter sink.
kafka::Output& kafka_output(Services& services);

// librdkafka properties for one client: kafka.properties, then the
// client-specific map (kafka.consumer_properties / kafka.producer_properties).
// `sources` (if given) receives where each was configured, and
// bootstrap.servers's (kafka.bootstrap_servers).
kafka::Properties kafka_client_properties(const Services& services, KafkaClient client,
                                          kafka::PropertySources* sources = nullptr);

// The key path and secrecy of `key` in `section`, for kafka::PropertySources.
kafka::PropertySource property_source(const config::Section& section, const std::string& key);

// Calls `build` (kafka::consumer_conf or producer_conf, the configuration a
// client builds at start) now, while the pipeline is built, so that `sluice
// validate` and `sluice run` report what librdkafka rejects before anything
// starts: a kafka::PropertyError becomes a config::ConfigError at its key path.
void check_kafka_conf(const std::function<kafka::Conf()>& build);

}  // namespace sluice::operators
