// KafkaDeadLetterSink: where records that cannot be processed go (DESIGN.md
// §2) — the configured dead-letter topic, with the original key, value and
// headers plus
//   sluice.error            the error code (core/dead_letter.h)
//   sluice.error.detail     a human-readable reason
//   sluice.stage            the stage that rejected the record
//   sluice.source.topic / sluice.source.partition / sluice.source.offset
// The record's Ack completes when the broker acknowledges the dead letter, so
// it is committed like any other record. A value too large for the topic is
// replaced by nothing (header sluice.value.omitted says so) rather than lost.
//
// Threading: publish() may be called from any stage's workers at once.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "operators/operator_spec.h"
#include "src/core/dead_letter.h"
#include "src/kafka/output.h"

namespace sluice::operators {

struct DeadLetterOptions {
  std::string topic;  // the dead-letter topic
};

class KafkaDeadLetterSink final : public core::DeadLetterSink {
 public:
  // `output` is shared with the Kafka sink; not owned, must outlive this.
  // Its producer is started on first use if nobody started it.
  KafkaDeadLetterSink(DeadLetterOptions options, kafka::Output& output);

  // Throws KafkaError if the dead letter cannot be queued at all (the
  // pipeline then fails: a record is never dropped silently).
  void publish(core::DeadLetter&& letter) override;

 private:
  DeadLetterOptions options_;
  kafka::Output& output_;
  core::TopicId topic_;
};

// The pipeline's shared Kafka output (from the `kafka:` section), created on
// first use and owned by `services`. When kafka.dead_letter_topic is set, the
// first call also installs a KafkaDeadLetterSink on top of it as the
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
