// kafka::DeadLetterSink: where records that cannot be processed go (DESIGN.md
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
#include <string>

#include "src/core/dead_letter.h"
#include "src/kafka/output.h"

namespace sluice::kafka {

class DeadLetterSink final : public core::DeadLetterSink {
 public:
  // `topic`: the dead-letter topic. `output` is shared with the Kafka sink;
  // not owned, must outlive this. Its producer is started on first use if
  // nobody started it.
  DeadLetterSink(std::string topic, Output& output);

  // Throws KafkaError if the dead letter cannot be queued at all (the
  // pipeline then fails: a record is never dropped silently).
  void publish(core::DeadLetter&& letter) override;

 private:
  std::string topic_name_;
  Output& output_;
  core::TopicId topic_;
};

}  // namespace sluice::kafka
