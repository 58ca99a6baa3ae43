#include "operators/window_aggregate.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <span>
#include <stdexcept>

#include "operators/json_text.h"
#include "operators/kafka_services.h"
#include "operators/window_aggregate_codec.h"
#include "src/config/load.h"
#include "src/core/emitter.h"
#include "src/core/log.h"
#include "src/state/stores.h"

namespace sluice::operators {
namespace {

template <typename T>
void append_number(std::string& out, T v) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(v))
      v = 0;  // JSON has no NaN/Inf; ratios and means of finite scores are finite
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_window_fields(std::string& out, const ClosedWindow& w) {
  out += "\"key\":";
  append_json_string(out, w.key);
  out += ",\"window_start\":";
  append_number(out, w.start_ms);
  out += ",\"window_end\":";
  append_number(out, w.end_ms);
  if (w.partition >= 0) {
    out += ",\"partition\":";
    append_number(out, w.partition);
  }
  out += ",\"count\":";
  append_number(out, w.count);
}

}  // namespace

void append_aggregate_json(std::string& out, const ClosedWindow& w) {
  out.push_back('{');
  append_window_fields(out, w);
  out += ",\"labels\":{";
  for (size_t i = 0; i < w.labels.size(); ++i) {
    if (i) out.push_back(',');
    append_json_string(out, w.labels[i].label);
    out.push_back(':');
    append_number(out, w.labels[i].count);
  }
  out += "},\"negative_ratio\":";
  append_number(out, w.negative_ratio());
  out += ",\"opinionated\":";
  append_number(out, w.opinionated());
  out += ",\"negative_ratio_opinionated\":";
  append_number(out, w.negative_ratio_opinionated());
  out += ",\"mean_score\":";
  append_number(out, w.mean_score());
  out += ",\"trigger\":";
  append_json_string(out, trigger_name(w.trigger));
  out.push_back('}');
}

bool AlertRule::fires(const ClosedWindow& w) const {
  if (over == Over::kOpinionated)
    return w.opinionated() >= min_count &&
           w.negative_ratio_opinionated() > negative_ratio_threshold;
  return w.count >= min_count && w.negative_ratio() > negative_ratio_threshold;
}

void append_alert_json(std::string& out, const ClosedWindow& w, const AlertRule& rule) {
  out += "{\"alert\":\"negative_ratio\",";
  append_window_fields(out, w);
  out += ",\"negative\":";
  append_number(out, w.negative);
  out += ",\"opinionated\":";
  append_number(out, w.opinionated());
  out += ",\"negative_ratio\":";
  append_number(out, w.negative_ratio());
  out += ",\"negative_ratio_opinionated\":";
  append_number(out, w.negative_ratio_opinionated());
  out += ",\"over\":";
  out += rule.over == AlertRule::Over::kOpinionated ? "\"opinionated\"" : "\"all\"";
  out += ",\"threshold\":";
  append_number(out, rule.negative_ratio_threshold);
  out.push_back('}');
}

void CloseTracker::retain(uint64_t token) {
  std::lock_guard lock(mu_);
  ++extra_[token];
}

void CloseTracker::complete(uint64_t token) {
  std::lock_guard lock(mu_);
  if (auto it = extra_.find(token); it != extra_.end()) {
    if (--it->second == 0) extra_.erase(it);
    return;
  }
  done_.push_back(token);
  any_.store(true, std::memory_order_release);
}

bool CloseTracker::take(std::vector<uint64_t>& out) {
  if (!any_.load(std::memory_order_acquire)) return false;
  std::lock_guard lock(mu_);
  out.swap(done_);
  done_.clear();
  any_.store(false, std::memory_order_relaxed);
  return !out.empty();
}

struct WindowAggregate::State final : core::OperatorState {
  State(const WindowAggregateOptions& o, const std::string& stage)
      : options(o), probe(o.metrics, o.pipeline, stage, o.gauges), store(o.store) {}

  WindowAggregator& part(int32_t partition) {
    auto it = parts.find(partition);
    if (it == parts.end())
      it = parts.emplace(partition, std::make_unique<WindowAggregator>(options.window)).first;
    return *it->second;
  }

  const WindowAggregateOptions& options;
  // One aggregator per input partition: event time per partition.
  std::unordered_map<int32_t, std::unique_ptr<WindowAggregator>> parts;
  WindowProbe probe;
  std::vector<ClosedWindow> closed;  // reused: filled by an aggregator, drained by flush()
  uint64_t overflow_total = 0;       // reported to the probe so far
  // The last record's arrival, any partition: idle closing waits for the
  // whole input to be idle (see on_tick()).
  core::TimePoint last_input{};

  // State (store non-null). A closed window whose aggregate is not yet
  // acknowledged stays in its key's changelog entry: `pending` holds it, by
  // the token its aggregate's Ack carries.
  state::KeyedStore* store;
  struct Pending {
    int32_t partition;
    ClosedWindow window;
  };
  std::unordered_map<uint64_t, Pending> pending;
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // partition → key → tokens of its pending closes
  std::unordered_map<
      int32_t, std::unordered_map<std::string, std::vector<uint64_t>, KeyHash, std::equal_to<>>>
      pending_by_key;
  uint64_t next_token = 1;
  std::vector<uint64_t> completed;    // reused
  std::vector<ClosedWindow> windows;  // reused: a key's windows being encoded
  std::string payload;                // reused
};

WindowAggregate::WindowAggregate(WindowAggregateOptions options, std::string stage)
    : options_(std::move(options)), stage_(std::move(stage)) {
  if (options_.aggregates_topic.empty())
    throw std::invalid_argument("aggregates_topic: must not be empty");
  WindowAggregator check(options_.window);  // validates the window options now, not at start-up
  aggregates_topic_ = core::intern_topic(options_.aggregates_topic);
  alert_topic_ =
      options_.alert.topic.empty() ? core::kNoTopic : core::intern_topic(options_.alert.topic);
}

std::unique_ptr<core::OperatorState> WindowAggregate::make_state(const core::WorkerInfo& worker) {
  if (worker.count != 1) throw std::logic_error("window_aggregate runs on exactly one worker");
  return std::make_unique<State>(options_, stage_);
}

void WindowAggregate::process(core::OperatorState* state, core::Item&& item,
                              core::Emitter& out) const {
  auto& st = *static_cast<State*>(state);
  core::Record& r = std::get<core::Record>(item);
  const int32_t p = r.partition;
  if (st.store) {
    sync(st, out);
    // A record of a partition this process no longer owns (in flight at a
    // revocation) belongs to the new owner's state; one already applied
    // (re-delivered after a crash) is in this state already.
    if (!st.store->owns(p)) {
      st.store->probe().on_skipped_not_owned();
      out.emit(std::move(item));
      return;
    }
    if (st.store->applied(p, r.offset)) {
      st.store->probe().on_skipped_applied();
      out.emit(std::move(item));
      return;
    }
  }
  WindowAggregator& agg = st.part(p);
  st.last_input = core::SteadyClock::now();
  const int64_t before = agg.stream_time_ms();
  int64_t event_ms = r.timestamp_ms >= 0 ? r.timestamp_ms : core::wall_ms();
  Admission a = agg.add(r.group, r.label, r.score, event_ms, core::SteadyClock::now(), st.closed);
  if (a == Admission::kLate) st.probe.on_late();
  // The closes first: a key's entry then carries its windows closed by this
  // record as well (they leave it once their aggregates are durable).
  // (flush() leaves the aggregator alone: last_key() stays valid.)
  const std::string_view counted_key = agg.last_key();
  if (!st.closed.empty()) flush(st, p, out);
  if (st.store) {
    // The input record's Ack waits for its state entry: its offset is
    // committed only once what it changed is durable.
    if (a == Admission::kCounted) {
      persist_key(st, p, counted_key, r.offset, r.ack.share());
    } else if (agg.stream_time_ms() != before) {
      // Not counted, but it moved event time (and may have closed windows).
      persist_partition(st, p, agg.stream_time_ms(), r.offset, r.ack.share());
    }
  }
  out.emit(std::move(item));  // the result itself, unchanged
}

void WindowAggregate::sync(State& st, core::Emitter& out) const {
  st.store->sync(
      [&](int32_t p, const state::PartitionSnapshot& snap) { restore(st, p, snap, out); },
      [&](int32_t p) {
        st.parts.erase(p);
        if (auto it = st.pending_by_key.find(p); it != st.pending_by_key.end()) {
          for (auto& [key, tokens] : it->second)
            for (uint64_t t : tokens) st.pending.erase(t);
          st.pending_by_key.erase(it);
        }
      });
  if (!closes_.take(st.completed)) return;
  // Aggregates now durable: their windows leave the keys' entries.
  std::vector<std::pair<int32_t, std::string>> touched;
  for (uint64_t token : st.completed) {
    auto it = st.pending.find(token);
    if (it == st.pending.end()) continue;  // partition revoked meanwhile
    const int32_t p = it->second.partition;
    auto& keys = st.pending_by_key[p];
    auto k = keys.find(it->second.window.key);
    if (k != keys.end()) {
      std::erase(k->second, token);
      touched.emplace_back(p, k->first);
      if (k->second.empty()) keys.erase(k);
    }
    st.pending.erase(it);
  }
  st.completed.clear();
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  for (const auto& [p, key] : touched) {
    if (!st.store->owns(p)) continue;
    persist_key(st, p, key, -1, {});
  }
}

void WindowAggregate::restore(State& st, int32_t p, const state::PartitionSnapshot& snap,
                              core::Emitter& out) const {
  st.parts.erase(p);
  WindowAggregator& agg = st.part(p);
  int64_t stream_time = INT64_MIN;
  std::string why;
  if (snap.partition_payload) {
    int64_t t = INT64_MIN;
    std::vector<ClosedWindow> none;
    if (decode_windows(*snap.partition_payload, "", options_.window.size_ms, &t, none, &why))
      stream_time = std::max(stream_time, t);
    else
      core::log_warn("window_aggregate ", stage_, ": partition ", p,
                     ": skipping its changelog stream time: ", why);
  }
  size_t bad = 0;
  for (const auto& [key, payload] : snap.keys) {
    st.windows.clear();
    int64_t t = INT64_MIN;
    if (!decode_windows(payload, key, options_.window.size_ms, &t, st.windows, &why)) {
      if (bad++ < 10)
        core::log_warn("window_aggregate ", stage_, ": partition ", p,
                       ": skipping changelog entry of a key: ", why);
      continue;
    }
    stream_time = std::max(stream_time, t);
    for (const ClosedWindow& w : st.windows) agg.restore_window(w);
  }
  agg.restore_stream_time(stream_time, core::SteadyClock::now());
  // Windows already due (closed before the crash, their aggregates perhaps
  // not acknowledged): closed again, with the same counts.
  agg.advance_to(stream_time, WindowTrigger::kEventTime, st.closed);
  if (!st.closed.empty()) flush(st, p, out);
}

void WindowAggregate::persist_key(State& st, int32_t p, std::string_view key, int64_t offset,
                                  core::Ack ack) const {
  WindowAggregator& agg = st.part(p);
  st.windows.clear();
  agg.key_windows(key, st.windows);
  if (auto pk = st.pending_by_key.find(p); pk != st.pending_by_key.end()) {
    if (auto k = pk->second.find(key); k != pk->second.end())
      for (uint64_t t : k->second) st.windows.push_back(st.pending.at(t).window);
  }
  if (st.windows.empty()) {
    // The key has nothing left: a tombstone, and the partition's entry keeps
    // its stream time and applied offset (a tombstone carries neither).
    st.store->erase(p, key, offset, ack.share());
    persist_partition(st, p, agg.stream_time_ms(), offset, std::move(ack));
    return;
  }
  st.payload.clear();
  encode_windows(st.payload, agg.stream_time_ms(), st.windows);
  st.store->put(p, key, st.payload, offset, std::move(ack));
}

void WindowAggregate::persist_partition(State& st, int32_t p, int64_t stream_time, int64_t offset,
                                        core::Ack ack) const {
  st.payload.clear();
  encode_windows(st.payload, stream_time, {});
  st.store->put_partition(p, st.payload, offset, std::move(ack));
}

core::TimePoint WindowAggregate::next_deadline(const core::OperatorState* state) const {
  const auto& st = *static_cast<const State*>(state);
  core::TimePoint next = core::TimePoint::max();
  for (const auto& [p, agg] : st.parts) next = std::min(next, agg->next_deadline());
  if (next != core::TimePoint::max())  // idle closing waits for the whole input (on_tick)
    next = std::max(next, st.last_input + options_.window.idle_timeout);
  // Closes waiting for their aggregates' acknowledgements: look again soon,
  // so that their windows leave the changelog while the input is idle.
  if (!st.pending.empty())
    next = std::min(next, core::SteadyClock::now() + std::chrono::milliseconds(100));
  return next;
}

void WindowAggregate::on_tick(core::OperatorState* state, core::Emitter& out) const {
  auto& st = *static_cast<State*>(state);
  if (st.store) sync(st, out);
  const core::TimePoint now = core::SteadyClock::now();
  // Idle closing needs the whole input idle, not one partition: catching up
  // a backlog, a partition can wait in Kafka for seconds (backpressure, the
  // fetcher serving others) while its records are still to come, and
  // closing its windows then would make them late. A partition whose
  // records stop while others flow keeps its last windows open until it has
  // records again or the input goes idle.
  if (now - st.last_input < options_.window.idle_timeout) return;
  for (auto& [p, agg] : st.parts) {
    const int64_t t = agg->idle_stream_time(now);
    if (t <= agg->stream_time_ms()) continue;
    if (st.store) {
      if (!st.store->owns(p)) continue;
      // An idle close is driven by the clock, not by a record that would be
      // read again after a crash: its stream time must be durable before
      // any aggregate goes out, or a restart could count later records into
      // a window already emitted.
      persist_partition(st, p, t, -1, {});
      if (!st.store->flush(options_.idle_flush_timeout)) {
        core::log_warn("window_aggregate ", stage_, ": partition ", p,
                       ": changelog flush timed out; idle close retried later");
        continue;
      }
    }
    agg->advance_to(t, WindowTrigger::kIdle, st.closed);
    if (!st.closed.empty()) flush(st, p, out);
  }
}

void WindowAggregate::finish(core::OperatorState* state, core::Emitter& out) const {
  auto& st = *static_cast<State*>(state);
  if (st.store) return;  // windows stay in the changelog: the next start restores them
  for (auto& [p, agg] : st.parts) {
    agg->close_all(st.closed);
    if (!st.closed.empty()) flush(st, p, out);
  }
}

void WindowAggregate::flush(State& st, int32_t partition, core::Emitter& out) const {
  const AlertRule& rule = options_.alert;
  for (ClosedWindow& w : st.closed) {
    w.partition = partition;
    if (alert_topic_ != core::kNoTopic) w.alert = rule.fires(w);
  }
  std::span<const ClosedWindow> all(st.closed);
  size_t begin = 0;
  while (begin < all.size()) {  // rounds: windows with the same end, in order
    size_t end = begin + 1;
    while (end < all.size() && all[end].end_ms == all[begin].end_ms) ++end;
    st.probe.on_round(all.subspan(begin, end - begin));
    begin = end;
  }
  for (ClosedWindow& w : st.closed) {
    std::string json;
    json.reserve(192 + 24 * w.labels.size() + w.key.size());
    append_aggregate_json(json, w);
    core::Record agg = core::Record::owned(w.key, std::move(json));
    agg.dest_topic = aggregates_topic_;
    if (st.store) {
      // Its Ack tells the tracker when the window may leave the changelog.
      const uint64_t token = st.next_token++;
      agg.ack = core::Ack(&closes_, token);
      st.pending_by_key[partition][w.key].push_back(token);
      st.pending.emplace(token, State::Pending{partition, w});
    }  // else an empty Ack: derived data
    out.emit(std::move(agg));

    if (w.alert) {
      std::string alert;
      append_alert_json(alert, w, rule);
      core::Record rec = core::Record::owned(w.key, std::move(alert));
      rec.dest_topic = alert_topic_;
      out.emit(std::move(rec));
      st.probe.on_alert();
    }
  }
  st.closed.clear();
  size_t open_keys = 0;
  uint64_t overflow = 0;
  for (const auto& [p, agg] : st.parts) {
    open_keys += agg->open_keys();
    overflow += agg->overflowed();
  }
  st.probe.set_open_keys(open_keys);
  if (overflow > st.overflow_total) st.probe.on_overflow(overflow - st.overflow_total);
  st.overflow_total = overflow;
}

namespace {

// A window_aggregate stage's keys. The window's times are read as written
// and checked here (whole milliseconds); the initializers are the keys'
// defaults (WindowConfig's and AlertRule's for theirs).
struct WindowAggregateStage {
  WindowAggregateOptions options;
  bool hopping = false;  // window: tumbling | hopping
  std::chrono::nanoseconds size = std::chrono::minutes(1);
  std::optional<std::chrono::nanoseconds> advance;  // hopping only; tumbling: size
  std::chrono::nanoseconds allowed_lateness = std::chrono::seconds(5);
  std::chrono::nanoseconds idle_timeout = std::chrono::seconds(10);
  bool state = true;
  std::optional<std::vector<std::string>> gauge_keys;
};

// Keys named again in the problems the checks below report.
constexpr const char* kSize = "size";
constexpr const char* kAdvance = "advance";
constexpr const char* kAllowedLateness = "allowed_lateness";
constexpr const char* kPositiveLabel = "positive_label";
constexpr const char* kOverflowKey = "overflow_key";
constexpr const char* kAggregatesTopic = "aggregates_topic";

const config::Options<WindowAggregateStage>& window_aggregate_options() {
  static const config::Options<WindowAggregateStage> options = [] {
    using S = WindowAggregateStage;
    config::Options<S> o;
    o.add("window", &S::hopping, "Window kind").choices({{"tumbling", false}, {"hopping", true}});
    o.add(kSize, &S::size, "Window length (event time)").range(0.001, {});
    o.add(kAdvance, &S::advance, "Hopping windows: distance between window starts (at most size)");
    o.add(kAllowedLateness, &S::allowed_lateness,
          "How long after its end (in event time) a window still accepts records")
        .range(0, {});
    o.add("idle_timeout", &S::idle_timeout,
          "After this long without input (processing time), event time advances with the clock "
          "so open windows still close; 0 = close on event time only")
        .range(0, {});
    o.add(
        "missing_key", [](S & s) -> auto& { return s.options.window.missing_key; },
        "Window key of records without one (\"\" = do not aggregate them)");
    o.add(
        "negative_label", [](S & s) -> auto& { return s.options.window.negative_label; },
        "Label name counted in negative_ratio and the alert rule");
    o.add(
        kPositiveLabel, [](S & s) -> auto& { return s.options.window.positive_label; },
        "The other polar label: records labelled negative_label or this are the opinionated "
        "ones (negative_ratio_opinionated)");
    o.add(
         "max_keys", [](S & s) -> auto& { return s.options.window.max_keys; },
         "Most keys with open windows; records of further keys count under overflow_key")
        .range(1, 10'000'000);
    o.add(
        kOverflowKey, [](S & s) -> auto& { return s.options.window.overflow_key; },
        "Key under which records beyond max_keys are counted");
    o.add("state", &S::state,
          "Keep the windows in a keyed state store with a Kafka changelog topic "
          "(<group>-<stage>-changelog), restored after a restart or rebalance, so that window "
          "counts survive crashes exactly (needs a kafka_source)");
    o.add(
         kAggregatesTopic, [](S & s) -> auto& { return s.options.aggregates_topic; },
         "Topic of the aggregate records (one per closed window and key)")
        .req();
    o.add("gauge_keys", &S::gauge_keys, "Keys always exported as sluice_sentiment_* gauges");
    o.add(
         "top_k", [](S & s) -> auto& { return s.options.gauges.top_k; },
         "Also export the K keys with the most records in the latest closed windows")
        .range(0, 1000);
    config::Options<S>& alert = o.object("alert", "Alert rule on closed windows",
                                         "Alert when a key's window is too negative");
    alert.add(
        "topic", [](S & s) -> auto& { return s.options.alert.topic; },
        "Topic of alert records; \"\" = no alerts");
    alert
        .add(
            "negative_ratio_threshold",
            [](S & s) -> auto& { return s.options.alert.negative_ratio_threshold; },
            "Alert when a window's negative ratio is over this")
        .range(0, 1);
    alert
        .add(
            "min_count", [](S & s) -> auto& { return s.options.alert.min_count; },
            "Only for windows with at least this many records in the ratio's denominator")
        .range(1, {});
    alert
        .add(
            "over", [](S & s) -> auto& { return s.options.alert.over; },
            "Negative ratio over all records of the window, or over its opinionated ones "
            "(negative or positive; neutral records left out)")
        .choices({{"all", AlertRule::Over::kAll}, {"opinionated", AlertRule::Over::kOpinionated}});
    return o;
  }();
  return options;
}

// Event times are whole milliseconds (Kafka timestamps).
int64_t whole_ms(std::chrono::nanoseconds d, const std::string& path,
                 std::vector<config::Problem>& problems) {
  const int64_t ns = d.count();
  if (ns % 1'000'000 != 0) problems.push_back({path, "must be a whole number of milliseconds"});
  return ns / 1'000'000;
}

WindowAggregateOptions options_from(BuildContext& ctx) {
  const config::Section& o = ctx.options;
  std::vector<config::Problem> problems;
  if (ctx.workers != 1)
    problems.push_back(
        {o.path_of("workers"),
         "window_aggregate keeps per-key window state in one worker; workers must be 1"});
  WindowAggregateStage stage = window_aggregate_options().read(o);
  WindowAggregateOptions& w = stage.options;
  w.pipeline = ctx.services.pipeline_name();
  w.metrics = ctx.services.metrics();
  const bool hopping = stage.hopping;
  w.window.size_ms = whole_ms(stage.size, o.path_of(kSize), problems);
  if (w.window.size_ms <= 0) problems.push_back({o.path_of(kSize), "must be at least 1ms"});
  if (stage.advance) {
    w.window.advance_ms = whole_ms(*stage.advance, o.path_of(kAdvance), problems);
    if (!hopping && w.window.advance_ms != w.window.size_ms)
      problems.push_back(
          {o.path_of(kAdvance), "only hopping windows take an advance (tumbling: advance = size)"});
    if (w.window.advance_ms <= 0) problems.push_back({o.path_of(kAdvance), "must be at least 1ms"});
    if (w.window.advance_ms > w.window.size_ms)
      problems.push_back({o.path_of(kAdvance), "must not exceed size (windows would leave gaps)"});
  } else {
    if (hopping) problems.push_back({o.path_of(kAdvance), "required for hopping windows"});
    w.window.advance_ms = w.window.size_ms;
  }
  w.window.allowed_lateness_ms =
      whole_ms(stage.allowed_lateness, o.path_of(kAllowedLateness), problems);
  w.window.idle_timeout = stage.idle_timeout;
  if (w.window.positive_label == w.window.negative_label)
    problems.push_back({o.path_of(kPositiveLabel), "must differ from negative_label"});
  if (w.window.overflow_key.empty())
    problems.push_back({o.path_of(kOverflowKey), "must not be empty"});
  if (w.aggregates_topic.empty())
    problems.push_back({o.path_of(kAggregatesTopic), "must not be empty"});
  if (stage.gauge_keys)
    for (auto& k : *stage.gauge_keys)
      if (!k.empty()) w.gauges.allow.push_back(k);
  // State needs the Kafka source (its assignment drives restores); it made
  // the pipeline's Stores when it was built (stages are built in order).
  if (stage.state) {
    if (auto* stores = ctx.services.find_shared<state::Stores>())
      w.store = &stores->add(ctx.stage_name, kafka_output(ctx.services), w.metrics, w.pipeline);
  }
  if (!problems.empty())
    throw config::ConfigError("stage '" + ctx.stage_name + "'", std::move(problems));
  return std::move(w);
}

}  // namespace

void register_window_aggregate(OperatorRegistry& registry) {
  registry.add(OperatorSpec{
      .type = "window_aggregate",
      .description =
          "Per-key event-time windows over classified records: label counts, negative ratio, "
          "mean score; aggregate and alert records, bounded per-key gauges",
      .is_source = false,
      .declare = [](config::Schema& s) { window_aggregate_options().declare(s); },
      .make_source = nullptr,
      .make_operator = [](BuildContext& ctx) -> std::unique_ptr<core::Operator> {
        return std::make_unique<WindowAggregate>(options_from(ctx), ctx.stage_name);
      },
  });
}

}  // namespace sluice::operators
