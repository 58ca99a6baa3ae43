// micro_batch: packs tokenized records into padding-free batches for the
// infer stage (DESIGN.md §4).
//
// Policy (MicroBatchPolicy): close the pending batch when it holds
// max_batch_records records or the token budget is reached, when its oldest
// record has waited max_delay, or at once when the next stage (infer) is idle,
// so that at low load a record's latency is one forward pass. With
// target_latency set, the token budget adapts online (AIMD, as in Clipper,
// NSDI'17): it grows by max_batch_tokens/16 while batch latency stays under
// the target and halves when a batch goes over; it is exported as a gauge.
// Batch latency comes from the infer stage through BatchFeedback. A batch
// holds records made for one model only (Record::model): when the model is
// reloaded, the first record tokenized for the new one closes the pending
// batch (reason "model"), so no batch mixes two vocabularies or two models.
//
// MicroBatcher is the policy on its own, single-threaded and free of the
// runtime (the stage's state; tested without threads).
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include "operators/operator_spec.h"
#include "src/core/batch.h"
#include "src/core/emitter.h"
#include "src/metrics/registry.h"

namespace sluice::operators {

struct MicroBatchPolicy {
  int64_t max_batch_records = 64;
  int64_t max_batch_tokens = 4096;
  std::chrono::nanoseconds max_delay = std::chrono::milliseconds(5);
  bool flush_when_idle = true;
  std::chrono::nanoseconds target_latency{0};  // 0: fixed budget of max_batch_tokens
};

// Adaptive token budget: additive increase, multiplicative decrease.
class TokenBudget {
 public:
  TokenBudget(int64_t max_tokens, std::chrono::nanoseconds target);
  int64_t value() const { return value_; }
  // One finished batch's latency (submit to results, ns). No-op without a target.
  void on_batch_latency(int64_t latency_ns);

 private:
  int64_t max_;
  int64_t min_;
  int64_t step_;
  int64_t target_ns_;
  int64_t value_;
};

// The batching policy. Single-threaded.
class MicroBatcher {
 public:
  explicit MicroBatcher(const MicroBatchPolicy& policy);

  // Adds a record with non-empty tokens. Batches this closes (0, 1 or 2: a
  // record that does not fit first closes the pending batch) are appended
  // to `ready`. A record longer than the whole budget travels alone.
  void add(core::Record&& record, int64_t now_ns, std::vector<core::Batch>& ready);
  // Closes the pending batch, if any, for `reason`. True if one was closed.
  bool flush(core::FlushReason reason, int64_t now_ns, std::vector<core::Batch>& ready);

  bool empty() const { return pending_.records.empty(); }
  size_t pending_records() const { return pending_.records.size(); }
  // When the pending batch must go (max_delay after its oldest record), in
  // now_ns() time; INT64_MAX when nothing is pending.
  int64_t deadline_ns() const;
  int64_t token_budget() const { return budget_.value(); }
  void on_batch_latency(int64_t latency_ns) { budget_.on_batch_latency(latency_ns); }
  const MicroBatchPolicy& policy() const { return policy_; }

 private:
  void close(core::FlushReason reason, int64_t now_ns, std::vector<core::Batch>& ready);
  void start_batch();

  MicroBatchPolicy policy_;
  TokenBudget budget_;
  core::Batch pending_;
};

// Batch latencies from infer back to micro_batch (AIMD). One per pipeline,
// shared through Services. Thread-safe.
struct BatchFeedback {
  std::atomic<uint64_t> batches{0};
  std::atomic<int64_t> last_latency_ns{0};
  void report(int64_t latency_ns) {
    last_latency_ns.store(latency_ns, std::memory_order_relaxed);
    batches.fetch_add(1, std::memory_order_release);
  }
};

// Metrics of the micro_batch stage, labelled {pipeline, stage}:
//   sluice_batch_records            histogram  records per batch
//   sluice_batch_tokens             histogram  tokens per batch (no padding: packed)
//   sluice_batch_flushes_total      counter    batches closed, by reason
//   sluice_batch_wait_seconds       histogram  oldest record's wait in the batcher
//   sluice_batch_token_budget       gauge      current token budget (AIMD)
class MicroBatchProbe {
 public:
  MicroBatchProbe() = default;  // no metrics (unit tests, sluice classify)
  MicroBatchProbe(metrics::Registry& registry, const std::string& pipeline,
                  const std::string& stage);
  void on_flush(const core::Batch& batch);
  void on_budget(int64_t tokens);

 private:
  metrics::Histogram* records_ = nullptr;
  metrics::Histogram* tokens_ = nullptr;
  metrics::Histogram* wait_ = nullptr;
  metrics::Counter* reasons_[core::kFlushReasons] = {};
  metrics::Gauge* budget_ = nullptr;
};

class MicroBatch final : public core::Operator {
 public:
  MicroBatch(MicroBatchPolicy policy, MicroBatchProbe probe, BatchFeedback* feedback);

  core::ItemKind input_kind() const override { return core::ItemKind::kRecord; }
  core::ItemKind output_kind() const override { return core::ItemKind::kBatch; }
  std::unique_ptr<core::OperatorState> make_state(const core::WorkerInfo& worker) override;
  void process(core::OperatorState* state, core::Item&& item, core::Emitter& out) const override;
  core::TimePoint next_deadline(const core::OperatorState* state) const override;
  void on_tick(core::OperatorState* state, core::Emitter& out) const override;
  bool wants_downstream_idle() const override { return policy_.flush_when_idle; }
  void finish(core::OperatorState* state, core::Emitter& out) const override;

 private:
  void emit_ready(core::OperatorState* state, core::Emitter& out) const;

  MicroBatchPolicy policy_;
  mutable MicroBatchProbe probe_;  // metric objects are thread-safe; shared by workers
  BatchFeedback* feedback_;
};

void register_micro_batch(OperatorRegistry& registry);

}  // namespace sluice::operators
