// What the Kafka source and sink share through the pipeline's Services:
// one Kafka output (producer) built from the `kafka:` section, with the
// dead-letter sink on top of it (src/kafka/dead_letter_sink.h) when
// kafka.dead_letter_topic is set, and the librdkafka properties each client
// gets from that section.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "operators/operator_spec.h"
#include "src/kafka/output.h"

namespace sluice::operators {

// The pipeline's shared Kafka output (from the `kafka:` section), created on
// first use and owned by `services`. When kafka.dead_letter_topic is set, the
// first call also installs a kafka::DeadLetterSink on top of it as the
// pipeline's dead-letter sink.
kafka::Output& kafka_output(Services& services);

// librdkafka properties for one client: kafka.properties, then the
// client-specific map (kafka.consumer_properties / kafka.producer_properties).
// `sources` (if given) receives where each was configured, and
// bootstrap.servers's (kafka.bootstrap_servers).
kafka::Properties kafka_client_properties(const config::Section& kafka, const std::string& specific,
                                          kafka::PropertySources* sources = nullptr);

// The key path and secrecy of `key` in `section`, for kafka::PropertySources.
kafka::PropertySource property_source(const config::Section& section, const std::string& key);

// Calls `build` (kafka::consumer_conf or producer_conf, the configuration a
// client builds at start) now, while the pipeline is built, so that `sluice
// validate` and `sluice run` report what librdkafka rejects before anything
// starts: a kafka::PropertyError becomes a config::ConfigError at its key path.
void check_kafka_conf(const std::function<kafka::Conf()>& build);

}  // namespace sluice::operators
