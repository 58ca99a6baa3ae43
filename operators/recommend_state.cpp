#include "operators/recommend_state.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <tuple>
#include <unordered_map>

#include "operators/kafka_services.h"
#include "operators/recommend_event.h"
#include "src/config/load.h"
#include "src/core/emitter.h"
#include "src/core/log.h"
#include "src/engine/model_error.h"
#include "src/state/in_memory_state.h"
#include "src/state/stores.h"

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

// ---- a user's changelog payload ----

namespace {

constexpr char kUserStateVersion = 1;

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_id(std::string& out, const std::string& id) {
  put_varint(out, id.size());
  out.append(id);
}

// Reads from a span of bytes; every read is checked against its end.
struct Reader {
  std::string_view in;
  size_t pos = 0;
  bool varint(uint64_t* v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= in.size()) return false;
      const auto b = static_cast<unsigned char>(in[pos++]);
      r |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) {
        *v = r;
        return true;
      }
    }
    return false;
  }
  bool bytes(size_t n, std::string_view* out) {
    if (n > in.size() - pos) return false;
    *out = in.substr(pos, n);
    pos += n;
    return true;
  }
  // A count of ids, each at least one byte: never more than the bytes left.
  bool count(uint64_t* n) { return varint(n) && *n <= in.size() - pos; }
  size_t left() const { return in.size() - pos; }
};

}  // namespace

void encode_user_state(const UserHistory& h, int64_t last_offset, const RecommenderModel& m,
                       std::string& out) {
  out.clear();
  out.push_back(kUserStateVersion);
  const auto u = static_cast<uint64_t>(last_offset);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  put_varint(out, h.recent.size());
  for (int32_t i : h.recent) put_id(out, m.item_id(i));
  put_varint(out, h.order.size());
  const size_t n = h.order.size();
  for (size_t j = 0; j < n; ++j) put_id(out, m.item_id(h.order[(h.head + j) % n]));
}

bool decode_user_state(std::string_view in, const RecommenderModel& m, int32_t max_seen,
                       UserHistory& h, int64_t* last_offset, std::string* why) {
  auto fail = [&](const char* w) {
    if (why) *why = w;
    return false;
  };
  h = UserHistory{};
  if (in.size() < 9) return fail("shorter than a user state header");
  if (in[0] != kUserStateVersion) return fail("unknown user state version");
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i)
    u |= static_cast<uint64_t>(static_cast<unsigned char>(in[1 + i])) << (8 * i);
  *last_offset = static_cast<int64_t>(u);
  if (*last_offset < 0) return fail("negative last offset");
  Reader r{in, 9};
  std::vector<int32_t> ids;
  auto read_ids = [&](uint64_t limit, const char* what) {
    uint64_t n = 0;
    ids.clear();
    if (!r.count(&n)) return fail(what);
    if (n > limit) return fail("more items than the model's bounds");
    ids.reserve(static_cast<size_t>(n));
    for (uint64_t j = 0; j < n; ++j) {
      uint64_t len = 0;
      std::string_view id;
      if (!r.varint(&len) || len > RecommenderModel::kMaxIdBytes || !r.bytes(len, &id))
        return fail("truncated item id");
      const int32_t index = m.find_item(id);
      if (index >= 0) ids.push_back(index);  // an id this model does not know: dropped
    }
    return true;
  };
  if (!read_ids(RecommenderModel::kMaxHistory, "bad recent count")) return false;
  for (int32_t i : ids) {  // as apply() would have built it
    if (auto it = std::find(h.recent.begin(), h.recent.end(), i); it != h.recent.end())
      h.recent.erase(it);
    h.recent.push_back(i);
  }
  if (static_cast<int64_t>(h.recent.size()) > m.history_length())
    h.recent.erase(h.recent.begin(), h.recent.end() - m.history_length());
  if (!read_ids(RecommenderModel::kMaxSeen, "bad seen count")) return false;
  if (r.left() != 0) return fail("trailing bytes");
  // Oldest first: keep the newest max_seen distinct ones (duplicates only
  // in bytes sluice did not write: the newest place counts).
  std::vector<std::pair<int32_t, int32_t>> by_item;  // (item, place)
  by_item.reserve(ids.size());
  for (size_t j = 0; j < ids.size(); ++j) by_item.emplace_back(ids[j], static_cast<int32_t>(j));
  std::sort(by_item.begin(), by_item.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second > b.second;
  });
  by_item.erase(std::unique(by_item.begin(), by_item.end(),
                            [](const auto& a, const auto& b) { return a.first == b.first; }),
                by_item.end());
  std::sort(by_item.begin(), by_item.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });
  const size_t keep = std::min(by_item.size(), static_cast<size_t>(std::max(max_seen, 0)));
  std::vector<int32_t> order;
  order.reserve(keep);
  for (size_t j = by_item.size() - keep; j < by_item.size(); ++j) order.push_back(by_item[j].first);
  std::vector<int32_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  h.order = std::move(order);
  h.seen = std::move(sorted);
  h.head = 0;
  return true;
}

size_t max_user_state_bytes(const RecommenderModel& m, int32_t max_seen) {
  size_t longest = 0;
  for (int32_t i = 0; i < m.num_items(); ++i) longest = std::max(longest, m.item_id(i).size());
  const size_t per_id = longest + 2;  // ids are at most 256 bytes: a 2-byte length
  return 9 + 10 + 10 +
         (static_cast<size_t>(m.history_length()) + static_cast<size_t>(max_seen)) * per_id;
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

// A user held in durable state: the history and the input offset of the
// user's last known-item event (what eviction orders by).
struct DurableUser {
  UserHistory history;
  int64_t last_offset = -1;
};

}  // namespace

struct RecommendState::Durable : core::OperatorState {
  explicit Durable(size_t max_record_bytes) : decoder(max_record_bytes) {}
  using Users = state::InMemoryKeyedState<DurableUser>;
  // Owned input partition → its users, least recently active last (an LRU
  // list touched only by known-item events is ordered by their offsets).
  std::unordered_map<int32_t, std::unique_ptr<Users>> parts;
  EventDecoder decoder;
  RecommendEvent event;
  metrics::Gauge* users_gauge = nullptr;
  std::string payload;  // reused
  size_t users() const {
    size_t n = 0;
    for (const auto& [p, u] : parts) n += u->size();
    return n;
  }
};

RecommendState::RecommendState(std::shared_ptr<const RecommenderModel> model,
                               RecommendStateOptions options, RecommendStateProbe probe)
    : model_(std::move(model)), options_(options), probe_(std::move(probe)) {
  if (options_.max_seen <= 0) options_.max_seen = model_->max_seen();
  if (options_.max_users < 1) throw std::invalid_argument("max_users must be positive");
  if (options_.store) {
    const size_t bytes = max_user_state_bytes(*model_, options_.max_seen);
    if (bytes > kMaxUserStateBytes)
      throw std::invalid_argument(
          "max_seen: a user's changelog entry could reach " + std::to_string(bytes) +
          " bytes with this model's ids, over the " + std::to_string(kMaxUserStateBytes) +
          " a Kafka record may take: lower max_seen");
  }
}

std::unique_ptr<core::OperatorState> RecommendState::make_state(const core::WorkerInfo& worker) {
  if (options_.store) {
    if (worker.count != 1)
      throw std::logic_error("recommend_state with durable state runs on exactly one worker");
    auto st = std::make_unique<Durable>(options_.max_record_bytes);
    st->users_gauge = probe_.users_gauge(worker.index);
    return st;
  }
  const auto per_worker =
      static_cast<size_t>((options_.max_users + worker.count - 1) / std::max(1, worker.count));
  auto st = std::make_unique<StateOfWorker>(per_worker, options_.max_record_bytes);
  st->users_gauge = probe_.users_gauge(worker.index);
  return st;
}

void RecommendState::process(core::OperatorState* s, core::Item&& item, core::Emitter& out) const {
  auto& record = std::get<core::Record>(item);
  if (options_.store) {
    process_durable(*static_cast<Durable*>(s), record, out);
    return;
  }
  auto* st = static_cast<StateOfWorker*>(s);
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

void RecommendState::process_durable(Durable& st, core::Record& record, core::Emitter& out) const {
  state::KeyedStore& store = *options_.store;
  store.sync([&](int32_t p, const state::PartitionSnapshot& snap) { restore(st, p, snap); },
             [&](int32_t p) { st.parts.erase(p); });
  if (auto err = st.decoder.decode(record, st.event)) {
    out.dead_letter(std::move(record), err->code, err->detail);
    return;
  }
  const RecommendEvent& ev = st.event;
  const int32_t p = record.partition;
  record.id = ev.user;
  auto part = st.parts.find(p);
  if (!store.owns(p) || part == st.parts.end()) {
    // In flight at a revocation (the source waits for those before it gives
    // a partition up, a bounded time): its state is the new owner's now.
    // The event gets the popularity list and changes nothing here.
    store.probe().on_skipped_not_owned();
    encode_empty_history(record.tokens);
    out.emit(std::move(record));
    return;
  }
  Durable::Users& users = *part->second;
  const int32_t index = model_->find_item(ev.item);
  const bool applied = store.applied(p, record.offset);
  if (applied) store.probe().on_skipped_applied();
  if (!applied) probe_.on_event(index >= 0);
  if (index < 0 || applied) {
    // Changes nothing (an unknown item, or an event whose effect the
    // restored state already has): the user's current state, untouched.
    if (const DurableUser* u = users.peek(ev.user)) {
      encode_history(u->history, record.tokens);
    } else {
      encode_empty_history(record.tokens);
    }
    out.emit(std::move(record));
    return;
  }
  if (!users.peek(ev.user) && users.size() >= users.capacity()) {
    // Full: the least recently active user goes, with a tombstone.
    const std::string victim(users.least_recent());
    store.erase(p, victim, record.offset, record.ack.share());
    users.erase(victim);
    probe_.on_evictions(1);
  }
  DurableUser& u = users.find_or_insert(ev.user);
  u.history.apply(index, model_->history_length(), options_.max_seen);
  u.last_offset = record.offset;
  encode_user_state(u.history, u.last_offset, *model_, st.payload);
  // The record's Ack waits for the entry: its offset is committed only once
  // what it changed is durable.
  store.put(p, ev.user, st.payload, record.offset, record.ack.share());
  encode_history(u.history, record.tokens);
  if (st.users_gauge) st.users_gauge->set(static_cast<double>(st.users()));
  out.emit(std::move(record));
}

void RecommendState::restore(Durable& st, int32_t p, const state::PartitionSnapshot& snap) const {
  const auto capacity = static_cast<size_t>(options_.max_users);
  auto users = std::make_unique<Durable::Users>(capacity);
  struct Restored {
    int64_t last_offset;
    const std::string* key;
    UserHistory history;
  };
  std::vector<Restored> all;
  all.reserve(snap.keys.size());
  std::string why;
  size_t bad = 0;
  for (const auto& [key, payload] : snap.keys) {
    Restored r{-1, &key, {}};
    if (!decode_user_state(payload, *model_, options_.max_seen, r.history, &r.last_offset, &why)) {
      if (bad++ < 10)
        core::log_warn("recommend_state: partition ", p,
                       ": skipping a user's changelog entry: ", why);
      continue;
    }
    all.push_back(std::move(r));
  }
  // Least recently active first, as they were inserted; the same order an
  // uninterrupted run has (offsets are unique within a partition).
  std::sort(all.begin(), all.end(), [](const Restored& a, const Restored& b) {
    return std::tie(a.last_offset, *a.key) < std::tie(b.last_offset, *b.key);
  });
  size_t first = 0;
  if (all.size() > capacity) {
    // More than max_users (a lower max_users than when they were written):
    // the least recently active go, as they would have.
    first = all.size() - capacity;
    for (size_t i = 0; i < first; ++i) options_.store->erase(p, *all[i].key, -1, {});
    probe_.on_evictions(first);
  }
  for (size_t i = first; i < all.size(); ++i) {
    DurableUser& u = users->find_or_insert(*all[i].key);
    u.history = std::move(all[i].history);
    u.last_offset = all[i].last_offset;
  }
  core::log_info("recommend_state: partition ", p, ": restored ", users->size(), " users",
                 bad ? " (" + std::to_string(bad) + " unreadable entries skipped)" : std::string());
  st.parts[p] = std::move(users);
  if (st.users_gauge) st.users_gauge->set(static_cast<double>(st.users()));
}

namespace {
// The recommender models a pipeline loaded, by directory as the stages name it.
struct RecommenderModels {
  std::map<std::string, std::shared_ptr<const RecommenderModel>> by_directory;
};
}  // namespace

std::shared_ptr<const RecommenderModel> shared_recommender_model(Services& services,
                                                                 const std::string& dir) {
  auto& models =
      services.shared<RecommenderModels>([] { return std::make_unique<RecommenderModels>(); });
  std::shared_ptr<const RecommenderModel>& model = models.by_directory[dir];
  if (model) return model;
  try {
    model = std::make_shared<const RecommenderModel>(RecommenderModel::load(dir));
  } catch (const engine::ModelError& e) {
    models.by_directory.erase(dir);
    throw std::invalid_argument(e.what());  // a configuration error at the stage's path
  }
  return model;
}

namespace {

// A recommend_state stage's keys: its operator's options and what its
// factory acts on. The initializers are the keys' defaults.
struct RecommendStateStage {
  std::optional<std::string> model;  // default: model.path
  RecommendStateOptions options;
  bool state = true;  // durable, when a kafka_source made the pipeline's Stores
};

constexpr const char* kModelKey = "model";

const config::Options<RecommendStateStage>& recommend_state_options() {
  static const config::Options<RecommendStateStage> options = [] {
    using S = RecommendStateStage;
    config::Options<S> o;
    o.add(kModelKey, &S::model,
          "Recommendation model directory (tools/train_recommender.py; default: model.path)");
    o.add(
         "max_users", [](S & s) -> auto& { return s.options.max_users; },
         "Users held in state: per input partition with durable state, over all workers in "
         "memory; the least recently active go first")
        .range(1, 1e9);
    o.add(
         "max_seen", [](S & s) -> auto& { return s.options.max_seen; },
         "Seen items kept per user (never recommended); 0 = the model's max_seen")
        .range(0, RecommenderModel::kMaxSeen);
    o.add(
         "max_record_bytes", [](S & s) -> auto& { return s.options.max_record_bytes; },
         "Events larger than this are dead letters (too_large)")
        .bytes()
        .range(1, 1 << 26);
    o.add("state", &S::state,
          "Keep users' state in a keyed state store with a Kafka changelog topic "
          "(<group>-<stage>-changelog), restored after a restart or rebalance (needs a "
          "kafka_source and one worker); otherwise in memory only");
    return o;
  }();
  return options;
}

}  // namespace

void register_recommend_state(OperatorRegistry& registry) {
  registry.add(OperatorSpec{
      .type = "recommend_state",
      .description = "Recommendation events → per-user state (recent and seen items); hands each "
                     "event on with its user's state",
      .is_source = false,
      .declare = [](config::Schema& s) { recommend_state_options().declare(s); },
      .make_source = nullptr,
      .make_operator = [](BuildContext& ctx) -> std::unique_ptr<core::Operator> {
        RecommendStateStage stage = recommend_state_options().read(ctx.options);
        RecommendStateOptions& o = stage.options;
        auto model =
            shared_recommender_model(ctx.services, model_directory(ctx, stage.model, kModelKey));
        RecommendStateProbe probe;
        if (auto* m = ctx.services.metrics())
          probe = RecommendStateProbe(*m, ctx.services.pipeline_name(), ctx.stage_name);
        // Durable state needs the Kafka source (its assignment drives
        // restores); it made the pipeline's Stores when it was built.
        if (stage.state) {
          if (auto* stores = ctx.services.find_shared<state::Stores>()) {
            if (ctx.workers != 1)
              throw config::ConfigError(
                  "stage '" + ctx.stage_name + "'",
                  {{ctx.options.path_of("workers"),
                    "recommend_state keeps durable per-user state in one worker; workers must be "
                    "1 (or state: false)"}});
            o.store = &stores->add(ctx.stage_name, kafka_output(ctx.services),
                                   ctx.services.metrics(), ctx.services.pipeline_name());
          }
        }
        return std::make_unique<RecommendState>(std::move(model), o, std::move(probe));
      },
  });
}

}  // namespace sluice::operators
