// recommend_state: the first stage of a recommendation pipeline. Decodes
// each event (operators/recommend_event.h), applies it to its user's state
// and hands the record on carrying a snapshot of that state, so that
// recommend_score computes the user's top-K *after* the event without
// touching the state itself (no sharing between stages, no locks).
//
// Per-user state (UserHistory), kept in a KeyedState (src/state/), one
// store per worker (events are keyed by user, so a user's events reach one
// worker), at most max_users users in all (least recently active evicted):
//   recent  the last history_length items the model knows, oldest first; an
//           item already there moves to the newest place
//   seen    the known items the user has had, sorted, at most max_seen
//           (the oldest dropped first); never recommended
// An item the model does not know changes nothing (counted); a user whose
// events were all unknown items stays cold. Bad events are dead letters.
//
// The snapshot travels in Record::tokens (so micro_batch packs it like
// token ids) as [n_recent, recent…, seen…]; Record::id is the user id.
//
// Metrics, labelled {pipeline, stage}:
//   sluice_recommend_events_total         counter  events applied
//   sluice_recommend_unknown_items_total  counter  events whose item the model does not know
//   sluice_recommend_users                gauge    users held {worker}
//   sluice_recommend_user_evictions_total counter  users dropped to stay within max_users
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "operators/recommend_model.h"
#include "operators/operator_spec.h"
#include "src/metrics/registry.h"

namespace sluice::operators {

struct UserHistory {
  std::vector<int32_t> recent;  // oldest first, at most history_length
  std::vector<int32_t> seen;    // sorted ascending, at most max_seen
  std::vector<int32_t> order;   // `seen` in insertion order, a ring from `head` once full
  uint32_t head = 0;

  // Applies one event of a known item.
  void apply(int32_t item, int32_t history_length, int32_t max_seen);
};

// The snapshot a record carries from recommend_state to recommend_score.
void encode_history(const UserHistory& h, std::vector<int32_t>& tokens);
void encode_empty_history(std::vector<int32_t>& tokens);
struct HistoryView {
  std::span<const int32_t> recent;  // oldest first
  std::span<const int32_t> seen;    // sorted ascending
};
// nullopt when `tokens` is not a snapshot for this model (a mis-wired pipeline).
std::optional<HistoryView> decode_history(std::span<const int32_t> tokens,
                                          const RecommenderModel& m);

struct RecommendStateOptions {
  int64_t max_users = 1'000'000;  // over all workers
  int32_t max_seen = 0;           // 0: the model's max_seen
  size_t max_record_bytes = 1 << 16;
};

class RecommendStateProbe {
 public:
  RecommendStateProbe() = default;  // no metrics
  RecommendStateProbe(metrics::Registry& registry, const std::string& pipeline,
                      const std::string& stage);
  metrics::Gauge* users_gauge(int worker) const;
  void on_event(bool known_item) {
    if (!events_) return;
    events_->inc();
    if (!known_item) unknown_->inc();
  }
  void on_evictions(uint64_t n) {
    if (evictions_ && n) evictions_->inc(static_cast<double>(n));
  }

 private:
  metrics::Registry* registry_ = nullptr;
  metrics::Labels labels_;
  metrics::Counter* events_ = nullptr;
  metrics::Counter* unknown_ = nullptr;
  metrics::Counter* evictions_ = nullptr;
};

class RecommendState final : public core::Operator {
 public:
  RecommendState(std::shared_ptr<const RecommenderModel> model, RecommendStateOptions options,
                 RecommendStateProbe probe);

  core::ItemKind input_kind() const override { return core::ItemKind::kRecord; }
  core::ItemKind output_kind() const override { return core::ItemKind::kRecord; }
  std::unique_ptr<core::OperatorState> make_state(const core::WorkerInfo& worker) override;
  void process(core::OperatorState* state, core::Item&& item, core::Emitter& out) const override;

 private:
  std::shared_ptr<const RecommenderModel> model_;
  RecommendStateOptions options_;
  // Recording a metric is thread-safe (lock-free values): workers share it.
  mutable RecommendStateProbe probe_;
};

// The model of a pipeline, loaded once per directory and shared by its
// recommend_* stages (Services). A bad directory is a configuration error.
std::shared_ptr<const RecommenderModel> shared_recommender_model(Services& services,
                                                                 const std::string& dir);

void register_recommend_state(OperatorRegistry& registry);

}  // namespace sluice::operators
