#include "operators/window_aggregate.h"

#include <charconv>
#include <cmath>
#include <span>
#include <stdexcept>

#include "operators/json_text.h"
#include "src/config/load.h"
#include "src/core/emitter.h"

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

struct WindowAggregate::State final : core::OperatorState {
  State(const WindowAggregateOptions& o, const std::string& stage)
      : windows(o.window), probe(o.metrics, o.pipeline, stage, o.gauges) {}
  WindowAggregator windows;
  WindowProbe probe;
  std::vector<ClosedWindow> closed;  // reused: filled by the aggregator, drained by flush()
  uint64_t overflow_seen = 0;
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

void WindowAggregate::process(core::OperatorState* state, core::Item&& item, core::Emitter& out) {
  auto& st = *static_cast<State*>(state);
  core::Record& r = std::get<core::Record>(item);
  int64_t event_ms = r.timestamp_ms >= 0 ? r.timestamp_ms : core::wall_ms();
  Admission a =
      st.windows.add(r.group, r.label, r.score, event_ms, core::SteadyClock::now(), st.closed);
  if (a == Admission::kLate) st.probe.on_late();
  out.emit(std::move(item));  // the result itself, unchanged
  if (!st.closed.empty()) flush(st, out);
}

core::TimePoint WindowAggregate::next_deadline(const core::OperatorState* state) const {
  return static_cast<const State*>(state)->windows.next_deadline();
}

void WindowAggregate::on_tick(core::OperatorState* state, core::Emitter& out) {
  auto& st = *static_cast<State*>(state);
  st.windows.on_idle(core::SteadyClock::now(), st.closed);
  flush(st, out);
}

void WindowAggregate::finish(core::OperatorState* state, core::Emitter& out) {
  auto& st = *static_cast<State*>(state);
  st.windows.close_all(st.closed);
  flush(st, out);
}

void WindowAggregate::flush(State& st, core::Emitter& out) const {
  const AlertRule& rule = options_.alert;
  if (alert_topic_ != core::kNoTopic)
    for (ClosedWindow& w : st.closed) w.alert = rule.fires(w);
  std::span<const ClosedWindow> all(st.closed);
  size_t begin = 0;
  while (begin < all.size()) {  // rounds: windows with the same end, in order
    size_t end = begin + 1;
    while (end < all.size() && all[end].end_ms == all[begin].end_ms) ++end;
    st.probe.on_round(all.subspan(begin, end - begin));
    begin = end;
  }
  for (const ClosedWindow& w : st.closed) {
    std::string json;
    json.reserve(192 + 24 * w.labels.size() + w.key.size());
    append_aggregate_json(json, w);
    core::Record agg = core::Record::owned(w.key, std::move(json));
    agg.dest_topic = aggregates_topic_;  // empty Ack: derived data
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
  st.probe.set_open_keys(st.windows.open_keys());
  st.probe.on_overflow(st.windows.overflowed() - st.overflow_seen);
  st.overflow_seen = st.windows.overflowed();
}

namespace {

// Event times are whole milliseconds (Kafka timestamps).
int64_t whole_ms(const config::Section& o, const std::string& key,
                 std::vector<config::Problem>& problems) {
  auto ns = o.duration(key).count();
  if (ns % 1'000'000 != 0)
    problems.push_back({o.path_of(key), "must be a whole number of milliseconds"});
  return ns / 1'000'000;
}

WindowAggregateOptions options_from(BuildContext& ctx) {
  const config::Section& o = ctx.options;
  std::vector<config::Problem> problems;
  if (ctx.workers != 1)
    problems.push_back(
        {o.path_of("workers"),
         "window_aggregate keeps per-key window state in one worker; workers must be 1"});
  WindowAggregateOptions w;
  w.pipeline = ctx.services.pipeline_name();
  w.metrics = ctx.services.metrics();
  const bool hopping = o.string("window") == "hopping";
  w.window.size_ms = whole_ms(o, "size", problems);
  if (w.window.size_ms <= 0) problems.push_back({o.path_of("size"), "must be at least 1ms"});
  if (o.has("advance")) {
    w.window.advance_ms = whole_ms(o, "advance", problems);
    if (!hopping && w.window.advance_ms != w.window.size_ms)
      problems.push_back({o.path_of("advance"),
                          "only hopping windows take an advance (tumbling: advance = size)"});
    if (w.window.advance_ms <= 0)
      problems.push_back({o.path_of("advance"), "must be at least 1ms"});
    if (w.window.advance_ms > w.window.size_ms)
      problems.push_back({o.path_of("advance"), "must not exceed size (windows would leave gaps)"});
  } else {
    if (hopping) problems.push_back({o.path_of("advance"), "required for hopping windows"});
    w.window.advance_ms = w.window.size_ms;
  }
  w.window.allowed_lateness_ms = whole_ms(o, "allowed_lateness", problems);
  w.window.idle_timeout = o.duration("idle_timeout");
  w.window.missing_key = o.string("missing_key");
  w.window.negative_label = o.string("negative_label");
  w.window.positive_label = o.string("positive_label");
  if (w.window.positive_label == w.window.negative_label)
    problems.push_back({o.path_of("positive_label"), "must differ from negative_label"});
  w.window.max_keys = static_cast<size_t>(o.integer("max_keys"));
  w.window.overflow_key = o.string("overflow_key");
  if (w.window.overflow_key.empty())
    problems.push_back({o.path_of("overflow_key"), "must not be empty"});
  w.aggregates_topic = o.string("aggregates_topic");
  if (w.aggregates_topic.empty())
    problems.push_back({o.path_of("aggregates_topic"), "must not be empty"});
  for (auto& k : o.strings("gauge_keys"))
    if (!k.empty()) w.gauges.allow.push_back(k);
  w.gauges.top_k = static_cast<size_t>(o.integer("top_k"));
  config::Section alert = o.section("alert");
  w.alert.topic = alert.string("topic");
  w.alert.negative_ratio_threshold = alert.real("negative_ratio_threshold");
  w.alert.min_count = static_cast<uint64_t>(alert.integer("min_count"));
  w.alert.over =
      alert.string("over") == "opinionated" ? AlertRule::Over::kOpinionated : AlertRule::Over::kAll;
  if (!problems.empty())
    throw config::ConfigError("stage '" + ctx.stage_name + "'", std::move(problems));
  return w;
}

}  // namespace

void register_window_aggregate(Registry& registry) {
  registry.add(OperatorSpec{
      .type = "window_aggregate",
      .description =
          "Per-key event-time windows over classified records: label counts, negative ratio, "
          "mean score; aggregate and alert records, bounded per-key gauges",
      .is_source = false,
      .declare =
          [](config::Schema& s) {
            s.choice("window", {"tumbling", "hopping"}, "Window kind").def("tumbling");
            s.duration("size", "Window length (event time)").def("1m").range(0.001, {});
            s.duration("advance", "Hopping windows: distance between window starts (at most size)");
            s.duration("allowed_lateness",
                       "How long after its end (in event time) a window still accepts records")
                .def("5s")
                .range(0, {});
            s.duration("idle_timeout",
                       "After this long without input (processing time), event time advances with "
                       "the clock so "
                       "open windows still close; 0 = close on event time only")
                .def("10s")
                .range(0, {});
            s.string("missing_key",
                     "Window key of records without one (\"\" = do not aggregate them)")
                .def("unknown");
            s.string("negative_label", "Label name counted in negative_ratio and the alert rule")
                .def("negative");
            s.string("positive_label",
                     "The other polar label: records labelled negative_label or this are the "
                     "opinionated ones (negative_ratio_opinionated)")
                .def("positive");
            s.integer(
                 "max_keys",
                 "Most keys with open windows; records of further keys count under overflow_key")
                .def("10000")
                .range(1, 10'000'000);
            s.string("overflow_key", "Key under which records beyond max_keys are counted")
                .def("__other__");
            s.string("aggregates_topic",
                     "Topic of the aggregate records (one per closed window and key)")
                .req();
            s.strings("gauge_keys", "Keys always exported as sluice_sentiment_* gauges");
            s.integer("top_k",
                      "Also export the K keys with the most records in the latest closed windows")
                .def("0")
                .range(0, 1000);
            auto alert =
                std::make_shared<config::Schema>("Alert when a key's window is too negative");
            alert->string("topic", "Topic of alert records; \"\" = no alerts").def("");
            alert
                ->real("negative_ratio_threshold",
                       "Alert when a window's negative ratio is over this")
                .def("0.5")
                .range(0, 1);
            alert
                ->integer("min_count",
                          "Only for windows with at least this many records in the ratio's "
                          "denominator")
                .def("20")
                .range(1, {});
            alert
                ->choice("over", {"all", "opinionated"},
                         "Negative ratio over all records of the window, or over its opinionated "
                         "ones (negative or positive; neutral records left out)")
                .def("all");
            s.object("alert", alert, "Alert rule on closed windows");
          },
      .make_source = nullptr,
      .make_operator = [](BuildContext& ctx) -> std::unique_ptr<core::Operator> {
        return std::make_unique<WindowAggregate>(options_from(ctx), ctx.stage_name);
      },
  });
}

}  // namespace sluice::operators
