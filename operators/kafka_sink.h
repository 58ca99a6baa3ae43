// KafkaSink: the pipeline's output — produces each record to Kafka with the
// shared idempotent producer; the delivery report completes the record's Ack,
// which is what lets the source commit its offset (DESIGN.md §2).
//
//   - Topic: the record's dest_topic if set, else the value of the header
//     named topic_header (when configured and present), else `topic`.
//   - Key and headers carried through (configurable).
//   - A record the producer rejects outright (e.g. over message.max.bytes)
//     becomes a dead letter; a failed delivery (after librdkafka's retries)
//     fails the pipeline, and the record stays uncommitted.
//   - finish() flushes the producer within flush_timeout, so that every
//     delivery report has arrived before the source's final commit.
//
// Threading: process() may run on several workers at once (produce is
// thread-safe); the sink keeps its per-worker topic cache in its state.
#pragma once
#include <chrono>
#include <memory>
#include <string>

#include "operators/operator_spec.h"
#include "src/core/operator.h"
#include "src/kafka/output.h"

namespace sluice::operators {

struct KafkaSinkOptions {
  std::string topic;         // default output topic
  std::string topic_header;  // optional: header naming a record's output topic
  bool keep_key = true;
  bool keep_headers = true;
  std::chrono::milliseconds flush_timeout{30000};
};

class KafkaSink final : public core::Operator {
 public:
  // `output` (shared with the dead-letter sink) must outlive the pipeline.
  KafkaSink(KafkaSinkOptions options, kafka::Output& output);

  core::ItemKind input_kind() const override { return core::ItemKind::kRecord; }
  core::ItemKind output_kind() const override { return core::ItemKind::kNone; }
  void start() override;  // creates the shared producer
  std::unique_ptr<core::OperatorState> make_state(const core::WorkerInfo& worker) override;
  void process(core::OperatorState* state, core::Item&& item, core::Emitter& out) const override;
  // While deliveries are outstanding, wake every 100 ms to notice a failure.
  core::TimePoint next_deadline(const core::OperatorState* state) const override;
  void on_tick(core::OperatorState* state, core::Emitter& out) const override;
  void finish(core::OperatorState* state, core::Emitter& out) const override;
  void shutdown() override;  // closes the producer

 private:
  void throw_if_failed() const;

  KafkaSinkOptions options_;
  kafka::Output& output_;
  kafka::Producer* producer_ = nullptr;  // set by start()
  core::TopicId default_topic_;
};

// Declares `type: kafka_sink` (the `kafka:` section is register_kafka_section's).
void register_kafka_sink(OperatorRegistry& registry);

}  // namespace sluice::operators
