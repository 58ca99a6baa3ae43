// window_aggregate: rolling sentiment per key. Sits after classify; passes
// every result record through unchanged and, per closed event-time window
// and key, emits an aggregate record to `aggregates_topic`:
//
//   {"key":"acme","window_start":1700000040000,"window_end":1700000100000,
//    "count":42,"labels":{"negative":10,"neutral":20,"positive":12},
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
// Delivery: aggregates and alerts are derived data and carry an empty Ack;
// each input's offset is committed when its own result is delivered. Window
// state is not persisted: after a restart, windows open at that time start
// from the records read again (at-least-once input may count a record twice
// across a restart).
//
// One worker only: windows are per key and keys are not partition-aligned.
#pragma once
#include <string>
#include <vector>

#include "operators/registry.h"
#include "operators/window_aggregate_probe.h"
#include "operators/window_aggregate_state.h"
#include "src/core/operator.h"

namespace sluice::operators {

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
};

class WindowAggregate final : public core::Operator {
 public:
  // Throws std::invalid_argument for unusable options.
  WindowAggregate(WindowAggregateOptions options, std::string stage);

  core::ItemKind input_kind() const override { return core::ItemKind::kRecord; }
  core::ItemKind output_kind() const override { return core::ItemKind::kRecord; }
  std::unique_ptr<core::OperatorState> make_state(const core::WorkerInfo& worker) override;
  void process(core::OperatorState* state, core::Item&& item, core::Emitter& out) override;
  core::TimePoint next_deadline(const core::OperatorState* state) const override;
  void on_tick(core::OperatorState* state, core::Emitter& out) override;
  void finish(core::OperatorState* state, core::Emitter& out) override;

 private:
  struct State;
  void flush(State& st, core::Emitter& out) const;

  WindowAggregateOptions options_;
  std::string stage_;
  core::TopicId aggregates_topic_;
  core::TopicId alert_topic_;
};

// JSON of a closed window / of its alert (exposed for tests).
void append_aggregate_json(std::string& out, const ClosedWindow& w);
void append_alert_json(std::string& out, const ClosedWindow& w, const AlertRule& rule);

// Declares `type: window_aggregate`.
void register_window_aggregate(Registry& registry);

}  // namespace sluice::operators
