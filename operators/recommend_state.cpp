#include "operators/recommend_state.h"

#include <algorithm>
#include <stdexcept>

#include "operators/recommend_event.h"
#include "src/core/emitter.h"
#include "src/engine/model_error.h"
#include "src/state/in_memory_state.h"

namespace sluice::operators {

// ---- UserHistory and its snapshot ----

void UserHistory::apply(int32_t item, int32_t history_length, int32_t max_seen) {
  if (auto it = std::find(recent.begin(), recent.end(), item); it != recent.end()) recent.erase(it);
  recent.push_back(item);
  if (static_cast<int64_t>(recent.size()) > history_length) recent.erase(recent.begin());

  auto pos = std::lower_bound(seen.begin(), seen.end(), item);
  if (pos != seen.end() && *pos == item) return;
  if (static_cast<int64_t>(seen.size()) >= max_seen && !seen.empty()) {
    // Full: the oldest seen item makes room (order is a ring from head).
    const int32_t oldest = order[head];
    seen.erase(std::lower_bound(seen.begin(), seen.end(), oldest));
    order[head] = item;
    head = (head + 1) % static_cast<uint32_t>(order.size());
    pos = std::lower_bound(seen.begin(), seen.end(), item);
  } else {
    order.push_back(item);
  }
  seen.insert(pos, item);
}

void encode_history(const UserHistory& h, std::vector<int32_t>& tokens) {
  tokens.clear();
  tokens.reserve(1 + h.recent.size() + h.seen.size());
  tokens.push_back(static_cast<int32_t>(h.recent.size()));
  tokens.insert(tokens.end(), h.recent.begin(), h.recent.end());
  tokens.insert(tokens.end(), h.seen.begin(), h.seen.end());
}

void encode_empty_history(std::vector<int32_t>& tokens) { tokens.assign(1, 0); }

std::optional<HistoryView> decode_history(std::span<const int32_t> t, const RecommenderModel& m) {
  if (t.empty()) return std::nullopt;
  const int32_t n = t[0];
  if (n < 0 || n > m.history_length() || static_cast<size_t>(n) + 1 > t.size()) return std::nullopt;
  HistoryView v{t.subspan(1, static_cast<size_t>(n)), t.subspan(1 + static_cast<size_t>(n))};
  for (int32_t i : v.recent)
    if (i < 0 || i >= m.num_items()) return std::nullopt;
  for (size_t j = 0; j < v.seen.size(); ++j)
    if (v.seen[j] < 0 || v.seen[j] >= m.num_items() || (j && v.seen[j] <= v.seen[j - 1]))
      return std::nullopt;
  return v;
}

// ---- RecommendStateProbe ----

RecommendStateProbe::RecommendStateProbe(metrics::Registry& r, const std::string& pipeline,
                                         const std::string& stage)
    : registry_(&r), labels_{{"pipeline", pipeline}, {"stage", stage}} {
  events_ = &r.counter("sluice_recommend_events_total",
                       "Events applied to per-user state (bad events excluded).", labels_);
  unknown_ = &r.counter("sluice_recommend_unknown_items_total",
                        "Events whose item the model does not know (state unchanged).", labels_);
  evictions_ =
      &r.counter("sluice_recommend_user_evictions_total",
                 "Users dropped (least recently active) to stay within max_users.", labels_);
}

metrics::Gauge* RecommendStateProbe::users_gauge(int worker) const {
  if (!registry_) return nullptr;
  metrics::Labels l = labels_;
  l.emplace_back("worker", std::to_string(worker));
  return &registry_->gauge("sluice_recommend_users", "Users whose state this worker holds.", l);
}

// ---- RecommendState ----

namespace {

struct StateOfWorker : core::OperatorState {
  StateOfWorker(size_t max_users, size_t max_record_bytes)
      : users(max_users), decoder(max_record_bytes) {}
  state::InMemoryKeyedState<UserHistory> users;
  EventDecoder decoder;
  RecommendEvent event;
  metrics::Gauge* users_gauge = nullptr;
};

}  // namespace

RecommendState::RecommendState(std::shared_ptr<const RecommenderModel> model,
                               RecommendStateOptions options, RecommendStateProbe probe)
    : model_(std::move(model)), options_(options), probe_(std::move(probe)) {
  if (options_.max_seen <= 0) options_.max_seen = model_->max_seen();
  if (options_.max_users < 1) throw std::invalid_argument("max_users must be positive");
}

std::unique_ptr<core::OperatorState> RecommendState::make_state(const core::WorkerInfo& worker) {
  const auto per_worker =
      static_cast<size_t>((options_.max_users + worker.count - 1) / std::max(1, worker.count));
  auto st = std::make_unique<StateOfWorker>(per_worker, options_.max_record_bytes);
  st->users_gauge = probe_.users_gauge(worker.index);
  return st;
}

void RecommendState::process(core::OperatorState* s, core::Item&& item, core::Emitter& out) const {
  auto* st = static_cast<StateOfWorker*>(s);
  auto& record = std::get<core::Record>(item);
  if (auto err = st->decoder.decode(record, st->event)) {
    out.dead_letter(std::move(record), err->code, err->detail);
    return;
  }
  const RecommendEvent& ev = st->event;
  const int32_t index = model_->find_item(ev.item);
  probe_.on_event(index >= 0);
  if (index < 0) {
    // Nothing to learn from an item the model does not know: the user's
    // top-K stays what it was (the popularity list for a new user).
    if (const UserHistory* h = st->users.find(ev.user)) {
      encode_history(*h, record.tokens);
    } else {
      encode_empty_history(record.tokens);
    }
  } else {
    const uint64_t evicted = st->users.evictions();
    UserHistory& h = st->users.find_or_insert(ev.user);
    h.apply(index, model_->history_length(), options_.max_seen);
    st->users.changed(ev.user, h, {record.partition, record.offset});
    encode_history(h, record.tokens);
    probe_.on_evictions(st->users.evictions() - evicted);
    if (st->users_gauge) st->users_gauge->set(static_cast<double>(st->users.size()));
  }
  record.id = ev.user;
  out.emit(std::move(record));
}

std::shared_ptr<const RecommenderModel> shared_recommender_model(Services& services,
                                                                 const std::string& dir) {
  try {
    return services.shared<std::shared_ptr<const RecommenderModel>>("recommend.model:" + dir, [&] {
      return std::make_unique<std::shared_ptr<const RecommenderModel>>(
          std::make_shared<const RecommenderModel>(RecommenderModel::load(dir)));
    });
  } catch (const engine::ModelError& e) {
    throw std::invalid_argument(e.what());  // a configuration error at the stage's path
  }
}

void register_recommend_state(OperatorRegistry& registry) {
  registry.add(OperatorSpec{
      .type = "recommend_state",
      .description = "Recommendation events → per-user state (recent and seen items); hands each "
                     "event on with its user's state",
      .is_source = false,
      .declare =
          [](config::Schema& s) {
            s.string("model",
                     "Recommendation model directory (tools/train_recommender.py; default: "
                     "model.path)");
            s.integer("max_users",
                      "Users held in state, over all workers; the least recently active go first")
                .def("1000000")
                .range(1, 1e9);
            s.integer("max_seen",
                      "Seen items kept per user (never recommended); 0 = the model's max_seen")
                .def("0")
                .range(0, RecommenderModel::kMaxSeen);
            s.bytes("max_record_bytes", "Events larger than this are dead letters (too_large)")
                .def("64KiB")
                .range(1, 1 << 26);
          },
      .make_source = nullptr,
      .make_operator = [](BuildContext& ctx) -> std::unique_ptr<core::Operator> {
        RecommendStateOptions o;
        o.max_users = ctx.options.integer("max_users");
        o.max_seen = static_cast<int32_t>(ctx.options.integer("max_seen"));
        o.max_record_bytes = ctx.options.bytes("max_record_bytes");
        auto model = shared_recommender_model(ctx.services, model_directory(ctx, "model"));
        RecommendStateProbe probe;
        if (auto* m = ctx.services.metrics())
          probe = RecommendStateProbe(*m, ctx.services.pipeline_name(), ctx.stage_name);
        return std::make_unique<RecommendState>(std::move(model), o, std::move(probe));
      },
  });
}

}  // namespace sluice::operators
