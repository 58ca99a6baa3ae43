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
#include <memory>
#include <string>

#include "src/core/dead_letter.h"
#include "src/kafka/producer.h"
#include "src/kafka/producer_probe.h"

namespace sluice::operators {

struct DeadLetterOptions {
  std::string topic;  // the dead-letter topic
};

class KafkaDeadLetterSink final : public core::DeadLetterSink {
 public:
  // The producer is shared with the Kafka sink (hence shared_ptr). probe may
  // be null (not owned; must outlive this object).
  KafkaDeadLetterSink(DeadLetterOptions options, std::shared_ptr<kafka::Producer> producer,
                      kafka::ProducerProbe* probe = nullptr);

  // Throws KafkaError if the dead letter cannot be queued at all (the
  // pipeline then fails: a record is never dropped silently).
  void publish(core::DeadLetter&& letter) override;

 private:
  DeadLetterOptions options_;
  std::shared_ptr<kafka::Producer> producer_;
  kafka::ProducerProbe* probe_;
  core::TopicId topic_;
};

}  // namespace sluice::operators
