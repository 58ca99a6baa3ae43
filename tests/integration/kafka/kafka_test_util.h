// Helpers for the Kafka integration tests: an independent librdkafka client to
// load input and read output (not sluice's own wrappers, so the tests do not
// check sluice against itself), and a passthrough pipeline built in C++.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "operators/kafka_services.h"
#include "operators/kafka_sink.h"
#include "operators/kafka_source.h"
#include "src/core/pipeline.h"
#include "src/kafka/dead_letter_sink.h"
#include "src/kafka/output.h"
#include "src/metrics/registry.h"

namespace sluice::kafka::testing {

struct Message {
  std::optional<std::string> key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  int32_t partition = -1;     // produce: -1 = by key (or random); read: where it was
  int64_t offset = -1;        // read only
  int64_t timestamp_ms = -1;  // read only: the record's Kafka timestamp
  std::string header(const std::string& name) const;  // "" if absent
};

// Produces every message and waits until all are acknowledged (throws
// std::runtime_error otherwise). lz4: compress batches (the embedded broker
// keeps ~5 MiB of stored bytes per partition).
void produce(const std::string& bootstrap, const std::string& topic,
             const std::vector<Message>& messages, bool lz4 = false);
std::vector<Message> values(const std::vector<std::string>& vs);

// Per-partition end offsets (high watermarks), from the broker.
std::vector<int64_t> end_offsets(const std::string& bootstrap, const std::string& topic);
int64_t total_records(const std::string& bootstrap, const std::string& topic);
// Waits until the topic holds at least n records; false on timeout.
bool wait_for_records(const std::string& bootstrap, const std::string& topic, int64_t n,
                      std::chrono::milliseconds timeout);
// Waits until the topic holds at least n distinct values; false on timeout.
bool wait_for_distinct(const std::string& bootstrap, const std::string& topic, size_t n,
                       std::chrono::milliseconds timeout);
// Reads the whole topic, from the beginning to its current end offsets.
std::vector<Message> read_all(const std::string& bootstrap, const std::string& topic);
// Committed offsets of `group` for each partition of `topic` (-1: none).
std::vector<int64_t> committed_offsets(const std::string& bootstrap, const std::string& group,
                                       const std::string& topic);

// Waits until the group's committed offsets equal the topic's end offsets.
bool wait_until_committed(const std::string& bootstrap, const std::string& group,
                          const std::string& topic, std::chrono::seconds timeout);

// value → how many times it occurs.
std::map<std::string, int> count_values(const std::vector<Message>& messages);

// A pass-through stage that can be slowed down or held (backpressure tests).
class Gate final : public core::Operator {
 public:
  core::ItemKind input_kind() const override { return core::ItemKind::kRecord; }
  core::ItemKind output_kind() const override { return core::ItemKind::kRecord; }
  void process(core::OperatorState*, core::Item&& item, core::Emitter& out) const override;
  std::atomic<bool> closed{false};  // while closed, process() waits
  std::atomic<int> delay_us{0};     // per record
  mutable std::atomic<uint64_t> passed{0};
};

struct HarnessOptions {
  std::string bootstrap, input, output, dead_letters, group;
  std::string pipeline = "test";
  std::string assignment_strategy = "cooperative-sticky";
  InputFormatOptions format;
  size_t high_watermark = 10000, low_watermark = 5000;
  std::chrono::milliseconds pause_after{1000};
  std::chrono::milliseconds commit_interval{200};
  size_t commit_records = 10000;
  Properties consumer_properties, producer_properties;
  std::chrono::milliseconds refusal_timeout{60000};
  // Non-empty: exactly_once, with this transactional.id.
  std::string transactional_id;
  std::chrono::milliseconds transaction_interval{500};
  bool shed = false;  // overload policy
  std::chrono::milliseconds latency_objective{5000};
  std::unique_ptr<core::Operator> middle;  // optional stage between source and sink
  size_t queue_capacity = 1024;
};

HarnessOptions options(std::string bootstrap, std::string input, std::string output,
                       std::string dead_letters, std::string group);

// kafka_source → [middle] → kafka_sink, dead letters to their topic: the
// passthrough pipeline wired by hand, as the registry would.
class Harness {
 public:
  explicit Harness(HarnessOptions options);
  ~Harness();
  void start() { pipeline->start(); }
  // Graceful stop: drain, flush, commit. Returns wait()'s result.
  int stop();

  metrics::Registry registry;
  std::unique_ptr<Output> output;
  std::unique_ptr<kafka::DeadLetterSink> dead_letters;
  std::unique_ptr<core::Pipeline> pipeline;
  operators::KafkaSource* source = nullptr;
};

// Consumer properties that keep group start-up and failover short in tests.
Properties fast_group_properties();

// Resident set size of this process, bytes.
size_t resident_bytes();

}  // namespace sluice::kafka::testing
