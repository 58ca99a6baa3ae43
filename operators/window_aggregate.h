// window_aggregate: rolling sentiment per key. Sits after classify; passes
// every result record through unchanged and, per closed event-time window
// and key, emits an aggregate record to `aggregates_topic`:
//
//   {"key":"acme","window_start":1700000040000,"window_end":1700000100000,
//    "partition":3,"count":42,"labels":{"negative":10,"neutral":20,"positive":12},
//    "negative_ratio":0.238,"opinionated":22,"negative_ratio_opinionated":0.455,
//    "mean_score":0.91,"trigger":"event_time"}
//
// (times in ms since the epoch, end exclusive; "opinionated" counts the
// records labelled negative_label or positive_label; negative_ratio is
// negative / count, negative_ratio_opinionated negative / opinionated;
// mean_score is the mean of the classifier's score for the label it chose;
// trigger says what closed the window: event_time, idle or end_of_input).
// With an alert rule, a closed window whose negative ratio — over all its
// records, or over its opinionated ones (`over`) — is above the threshold,
// with at least min_count records in that denominator, also emits an alert
// record to the alert topic:
//
//   {"alert":"negative_ratio","key":"acme","window_start":…,"window_end":…,
//    "count":42,"negative":10,"opinionated":22,"negative_ratio":0.238,
//    "negative_ratio_opinionated":0.455,"over":"opinionated","threshold":0.4}
//
// Window semantics (tumbling/hopping, lateness, idle closing, key overflow):
// window_aggregate_state.h. Metrics: window_aggregate_probe.h.
//
// Windows per input partition. Windows, event time and lateness are kept per
// input partition (the partition each result's input record came from):
// event time advances per partition, so a backlog caught up with skewed
// partitions makes no partition's records late because another ran ahead
// (with one shared clock, 17.9 % of a 40 s backlog was dropped as late). An
// aggregate therefore counts one partition's records of its key and window
// ("partition" in the JSON); the key's total over the stream is the sum over
// partitions — which is also what several sluice processes in one group,
// each with some of the partitions, can only ever produce.
//
// State (when the pipeline reads Kafka, and `state` is on: the default). The
// open windows live in a keyed state store (src/state/keyed_store.h) with a
// compacted changelog topic `<group>-<stage>-changelog`, restored before a
// partition is processed and dropped when it is revoked. Each counted record
// writes its key's windows (and the partition's stream time) with the input
// offset; a re-delivered record at or below the partition's applied offset
// changes nothing. Its Ack waits for that entry: an input offset is committed
// only once its state is durable.
//
// Why per-window counts sum exactly over crashes. Everything a partition's
// windows hold and when they close is a function of the partition's records
// in offset order (plus, for idle closes, a stream time that is written to
// the changelog and flushed before anything closes). A restore rebuilds the
// state of a prefix of the records, and re-delivery replays the rest, so
// every window closes with the same records whatever crashed when. A closed
// window stays in its key's changelog entry until its aggregate record is
// acknowledged by the broker (CloseTracker below); only then is the entry
// rewritten without it. A crash in between re-emits the window after the
// restore, with identical counts: a window is emitted at least once, and
// every emission of it carries the same count. Consumers (and the
// acceptance test) deduplicate by (key, window_start, partition). (The
// aggregate's Kafka key stays the window key, so the topic must not be
// compacted: that would keep one window per key.)
//
// Idle closing (idle_timeout) waits for the whole input to be idle, then
// advances each partition's clock by its own idle time: while a backlog is
// caught up a partition can wait in Kafka for seconds with records still to
// come. A partition whose records stop while others flow keeps its last
// windows open until it has records again or the input goes idle.
//
// Without state (no Kafka source, or `state: false`) windows live in memory
// only, and at the end of input every open window is closed (end_of_input).
// With state they are not closed at a stop: the next start restores them.
//
// Memory: max_keys applies per partition.
//
// One worker only (windows of a partition must see its records in order).
#pragma once
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "operators/operator_spec.h"
#include "operators/window_aggregate_probe.h"
#include "operators/window_aggregate_state.h"
#include "src/core/operator.h"

namespace sluice::state {
class KeyedStore;
struct PartitionSnapshot;
}  // namespace sluice::state

namespace sluice::operators {

// Hears when aggregate records are durable (their Acks point here), so that
// their windows can leave the changelog. Completions arrive on the
// producer's delivery-report thread; the worker takes them. Per closed
// window, never per record.
class CloseTracker final : public core::AckSink {
 public:
  void retain(uint64_t token) override;
  void complete(uint64_t token) override;
  // Moves the tokens of completed closes into `out`; false when none.
  bool take(std::vector<uint64_t>& out);

 private:
  std::mutex mu_;
  std::unordered_map<uint64_t, int> extra_;  // shares beyond the first, by token
  std::vector<uint64_t> done_;
  std::atomic<bool> any_{false};
};

struct AlertRule {
  enum class Over { kAll, kOpinionated };  // the ratio's denominator
  std::string topic;                       // "" : no alerts
  double negative_ratio_threshold = 0.5;
  uint64_t min_count = 20;  // records in the denominator
  Over over = Over::kAll;

  // The rule itself (also what sluice_sentiment_alerting exports).
  bool fires(const ClosedWindow& w) const;
};

struct WindowAggregateOptions {
  WindowConfig window;
  std::string aggregates_topic;
  AlertRule alert;
  WindowProbe::KeyGauges gauges;
  std::string pipeline = "pipeline";  // metrics label
  metrics::Registry* metrics = nullptr;
  // The stage's keyed state (null: windows in memory only). Not owned.
  state::KeyedStore* store = nullptr;
  // How long an idle close waits for its stream time to reach the changelog.
  std::chrono::milliseconds idle_flush_timeout{5000};
};

class WindowAggregate final : public core::Operator {
 public:
  // Throws std::invalid_argument for unusable options.
  WindowAggregate(WindowAggregateOptions options, std::string stage);

  core::ItemKind input_kind() const override { return core::ItemKind::kRecord; }
  core::ItemKind output_kind() const override { return core::ItemKind::kRecord; }
  std::unique_ptr<core::OperatorState> make_state(const core::WorkerInfo& worker) override;
  void process(core::OperatorState* state, core::Item&& item, core::Emitter& out) const override;
  core::TimePoint next_deadline(const core::OperatorState* state) const override;
  void on_tick(core::OperatorState* state, core::Emitter& out) const override;
  void finish(core::OperatorState* state, core::Emitter& out) const override;

 private:
  struct State;
  // Emits the aggregates (and alerts) of st.closed, windows of `partition`.
  void flush(State& st, int32_t partition, core::Emitter& out) const;
  // State: takes restores, revocations and completed closes.
  void sync(State& st, core::Emitter& out) const;
  void restore(State& st, int32_t partition, const state::PartitionSnapshot& snapshot,
               core::Emitter& out) const;
  // Writes the key's windows (open and closed awaiting their aggregate).
  void persist_key(State& st, int32_t partition, std::string_view key, int64_t offset,
                   core::Ack ack) const;
  void persist_partition(State& st, int32_t partition, int64_t stream_time, int64_t offset,
                         core::Ack ack) const;

  WindowAggregateOptions options_;
  std::string stage_;
  core::TopicId aggregates_topic_;
  core::TopicId alert_topic_;
  // Thread-safe (its own mutex); outlives every aggregate record in flight.
  mutable CloseTracker closes_;
};

// JSON of a closed window / of its alert (exposed for tests).
void append_aggregate_json(std::string& out, const ClosedWindow& w);
void append_alert_json(std::string& out, const ClosedWindow& w, const AlertRule& rule);

// Declares `type: window_aggregate`.
void register_window_aggregate(OperatorRegistry& registry);

}  // namespace sluice::operators
