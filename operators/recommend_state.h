// recommend_state: the first stage of a recommendation pipeline. Decodes
// each event (operators/recommend_event.h), applies it to its user's state
// and hands the record on carrying a snapshot of that state, so that
// recommend_score computes the user's top-K *after* the event without
// touching the state itself (no sharing between stages, no locks).
//
// Per-user state (UserHistory):
//   recent  the last history_length items the model knows, oldest first; an
//           item already there moves to the newest place
//   seen    the known items the user has had, sorted, at most max_seen
//           (the oldest dropped first); never recommended
// An item the model does not know changes nothing (counted); a user whose
// events were all unknown items stays cold. Bad events are dead letters.
//
// Where the state lives.
//  - Durable (a pipeline reading Kafka, `state: true`, the default): in the
//    stage's keyed state store (src/state/keyed_store.h) with its compacted
//    changelog topic `<group>-<stage>-changelog`, one worker. Each event of a
//    known item writes its user's entry (encode_user_state()) with the input
//    offset; the record's Ack waits for it, so an input offset is committed
//    only once the state it changed is durable. A restart, or a partition
//    moving to another member, restores the partition's users before any of
//    its records is processed: their recommendations still exclude what they
//    saw before and still use their pre-restart history. A re-delivered
//    event (at or below the partition's applied offset) changes nothing and
//    gets its user's current state.
//    Bounds, per input partition: at most max_users users. A new user in a
//    full partition evicts the partition's least recently active user — the
//    one whose last known-item event has the lowest input offset (unknown
//    items and re-deliveries are not activity) — with a tombstone. The
//    entry carries that offset, so a restore rebuilds the same order and
//    later evictions are the ones an uninterrupted run would make: a
//    partition's state is a function of its records in offset order.
//  - In memory (no Kafka source — `sluice recommend` — or `state: false`):
//    one store per worker (events are keyed by user, so a user's events
//    reach one worker), at most max_users users over all workers, the least
//    recently used evicted first (unknown items count as use); lost on exit.
//
// The snapshot travels in Record::tokens (so micro_batch packs it like
// token ids) as [n_recent, recent…, seen…]; Record::id is the user id.
//
// Metrics, labelled {pipeline, stage}:
//   sluice_recommend_events_total         counter  events applied
//   sluice_recommend_unknown_items_total  counter  events whose item the model does not know
//   sluice_recommend_users                gauge    users held {worker}
//   sluice_recommend_user_evictions_total counter  users dropped to stay within max_users
// and the store's sluice_state_* (src/state/state_probe.h) when durable.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "operators/operator_spec.h"
#include "operators/recommend_model.h"
#include "src/metrics/registry.h"

namespace sluice::state {
class KeyedStore;
struct PartitionSnapshot;
}  // namespace sluice::state

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

// A user's changelog payload (durable state). Item *ids*, not catalogue
// indices, so that a retrained model (another id map) restores what users
// saw; ids it does not know are dropped.
//
//   byte 1 (version) | int64 LE last_offset (the user's last known-item
//   event) | varint n_recent | n_recent × (varint length, id bytes), oldest
//   first | varint n_seen | n_seen × (varint length, id bytes), in the order
//   they were first seen, oldest first
void encode_user_state(const UserHistory& h, int64_t last_offset, const RecommenderModel& m,
                       std::string& out);
// Decodes what encode_user_state() wrote, for `m` and at most `max_seen`
// seen items (the newest kept). False, with the reason, for bytes that do
// not parse (a hostile or corrupted changelog record); never throws.
bool decode_user_state(std::string_view in, const RecommenderModel& m, int32_t max_seen,
                       UserHistory& h, int64_t* last_offset, std::string* why);
// The most bytes encode_user_state() writes for this model and max_seen.
size_t max_user_state_bytes(const RecommenderModel& m, int32_t max_seen);
// Changelog entries must fit a Kafka record (message.max.bytes, 1 MB by default).
inline constexpr size_t kMaxUserStateBytes = 900 * 1024;

struct RecommendStateOptions {
  int64_t max_users = 1'000'000;  // in memory: over all workers; durable: per input partition
  int32_t max_seen = 0;           // 0: the model's max_seen
  size_t max_record_bytes = 1 << 16;
  // Durable state (not owned; null: in memory). Needs one worker.
  state::KeyedStore* store = nullptr;
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
  struct Durable;
  void process_durable(Durable& st, core::Record& record, core::Emitter& out) const;
  void restore(Durable& st, int32_t partition, const state::PartitionSnapshot& snapshot) const;

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
