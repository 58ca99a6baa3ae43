// window_aggregate inside a real pipeline: results pass through untouched,
// aggregates and alerts go to their topics with empty Acks, idle streams
// still close windows, and the stage's configuration is checked with key paths.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "app/wiring/pipeline_factory.h"
#include "app/wiring/registry.h"
#include "operators/window_aggregate.h"
#include "src/config/load.h"
#include "src/core/emitter.h"
#include "src/core/pipeline.h"
#include "src/metrics/registry.h"
#include "tests/support/collecting_sink.h"

namespace sluice::operators {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class CountingAcks : public core::AckSink {
 public:
  void retain(uint64_t) override { retained++; }
  void complete(uint64_t) override { completed++; }
  std::atomic<int> retained{0}, completed{0};
};

struct Input {
  std::string group, label;
  float score;
  int64_t ts;
};

// Emits classified records (as classify would), then optionally idles until released.
class ResultSource : public core::Source {
 public:
  ResultSource(std::vector<Input> inputs, CountingAcks* acks, bool hold = false)
      : inputs_(std::move(inputs)), acks_(acks), hold_(hold) {}
  Poll poll(core::Emitter& out) override {
    if (i_ < inputs_.size()) {
      const Input& in = inputs_[i_];
      core::Record r = core::Record::owned("id-" + std::to_string(i_),
                                           R"({"result":)" + std::to_string(i_) + "}");
      r.group = in.group;
      r.label = in.label;
      r.score = in.score;
      r.timestamp_ms = in.ts;
      r.partition = 0;
      r.offset = static_cast<int64_t>(i_);
      r.ack = core::Ack(acks_, i_);
      ++i_;
      out.emit(std::move(r));
      return Poll::kEmitted;
    }
    if (hold_ && !released && !out.stopping()) {
      std::this_thread::sleep_for(1ms);
      return Poll::kIdle;
    }
    return Poll::kEnd;
  }
  std::atomic<bool> released{false};

 private:
  std::vector<Input> inputs_;
  CountingAcks* acks_;
  bool hold_;
  size_t i_ = 0;
};

struct Seen {
  std::string key, value;
  core::TopicId topic;
  int64_t offset;
  bool ack_empty;
  std::string label, group;
};

// What the sink keeps of each record; it acknowledges each, as a Kafka sink would.
testing::CollectingSink::Keep keep_into(std::vector<Seen>& seen) {
  return [&seen](core::Record& r) {
    seen.push_back({std::string(r.key()), std::string(r.value()), r.dest_topic, r.offset,
                    r.ack.empty(), r.label, r.group});
    r.ack.complete();
  };
}

WindowAggregateOptions options(int64_t size_ms) {
  WindowAggregateOptions o;
  o.window.size_ms = o.window.advance_ms = size_ms;
  o.window.allowed_lateness_ms = 0;
  o.aggregates_topic = "test-aggregates";
  return o;
}

struct Outputs {
  std::vector<Seen> results, aggregates, alerts;
};

Outputs run(WindowAggregateOptions o, std::vector<Input> inputs, CountingAcks& acks) {
  core::Pipeline p({"window-test", 64});
  p.set_source("src", std::make_unique<ResultSource>(std::move(inputs), &acks));
  p.add_stage("windows", std::make_unique<WindowAggregate>(std::move(o), "windows"));
  std::vector<Seen> all;
  p.add_stage("sink", std::make_unique<testing::CollectingSink>(keep_into(all)));
  p.start();
  EXPECT_EQ(p.wait(), 0) << p.failure();
  Outputs out;
  for (auto& seen : all) {
    if (seen.topic == core::intern_topic("test-aggregates"))
      out.aggregates.push_back(seen);
    else if (seen.topic == core::intern_topic("test-alerts"))
      out.alerts.push_back(seen);
    else
      out.results.push_back(seen);
  }
  return out;
}

TEST(WindowAggregateOperator, PassesResultsThroughAndEmitsOneAggregatePerClosedWindowAndKey) {
  CountingAcks acks;
  std::vector<Input> in{
      {"acme", "negative", 0.75f, 1'000}, {"acme", "positive", 0.5f, 2'000},
      {"beta", "positive", 1.0f, 3'000},  {"", "negative", 0.25f, 4'000},
      {"acme", "negative", 0.5f, 11'000}, {"beta", "negative", 0.5f, 500}};  // last one late
  Outputs r = run(options(10'000), in, acks);

  ASSERT_EQ(r.results.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {  // unchanged, in order, with their acks
    EXPECT_EQ(r.results[i].offset, static_cast<int64_t>(i));
    EXPECT_EQ(r.results[i].key, "id-" + std::to_string(i));
    EXPECT_EQ(r.results[i].value, R"({"result":)" + std::to_string(i) + "}");
    EXPECT_EQ(r.results[i].label, in[i].label);
    EXPECT_EQ(r.results[i].group, in[i].group);
    EXPECT_FALSE(r.results[i].ack_empty);
    EXPECT_EQ(r.results[i].topic, core::kNoTopic);
  }
  EXPECT_EQ(acks.completed.load(), static_cast<int>(in.size()));  // only results carry acks
  EXPECT_EQ(acks.retained.load(), 0);

  ASSERT_EQ(r.aggregates.size(),
            4u);  // [0,10s): acme, beta, unknown; then [10s,20s) acme at the end
  for (const auto& a : r.aggregates) EXPECT_TRUE(a.ack_empty);
  json acme = json::parse(r.aggregates[0].value);
  EXPECT_EQ(r.aggregates[0].key, "acme");
  EXPECT_EQ(acme, json::parse(R"({"key":"acme","window_start":0,"window_end":10000,"partition":0,
      "count":2,"labels":{"negative":1,"positive":1},"negative_ratio":0.5,"opinionated":2,
      "negative_ratio_opinionated":0.5,"mean_score":0.625,"trigger":"event_time"})"));
  json beta = json::parse(r.aggregates[1].value);
  EXPECT_EQ(beta["key"], "beta");
  EXPECT_EQ(beta["count"], 1);  // the late record is not counted
  EXPECT_EQ(beta["labels"], json::parse(R"({"positive":1})"));
  EXPECT_EQ(json::parse(r.aggregates[2].value)["key"], "unknown");
  json last = json::parse(r.aggregates[3].value);
  EXPECT_EQ(last["window_start"], 10'000);
  EXPECT_EQ(last["trigger"], "end_of_input");
  EXPECT_EQ(last["negative_ratio"], 1.0);
}

TEST(WindowAggregateOperator, AlertsWhenNegativeRatioIsOverThresholdWithEnoughRecords) {
  CountingAcks acks;
  WindowAggregateOptions o = options(10'000);
  o.alert = {"test-alerts", 0.5, 3};
  std::vector<Input> in;
  for (int i = 0; i < 3; ++i)
    in.push_back({"bad", i < 2 ? "negative" : "positive", 0.9f, 100 + i});  // 2/3 > 0.5
  for (int i = 0; i < 4; ++i)
    in.push_back({"even", i < 2 ? "negative" : "positive", 0.9f, 100 + i});      // 0.5: not over
  for (int i = 0; i < 2; ++i) in.push_back({"few", "negative", 0.9f, 100 + i});  // < min_count
  Outputs r = run(o, in, acks);
  ASSERT_EQ(r.alerts.size(), 1u);
  EXPECT_EQ(r.alerts[0].key, "bad");
  EXPECT_TRUE(r.alerts[0].ack_empty);
  json a = json::parse(r.alerts[0].value);
  EXPECT_EQ(a["alert"], "negative_ratio");
  EXPECT_EQ(a["key"], "bad");
  EXPECT_EQ(a["count"], 3);
  EXPECT_EQ(a["negative"], 2);
  EXPECT_EQ(a["threshold"], 0.5);
  EXPECT_EQ(a["over"], "all");
  EXPECT_EQ(a["window_end"], 10'000);
  EXPECT_EQ(r.aggregates.size(), 3u);
}

TEST(WindowAggregateOperator, NeutralRecordsAreCountedPerLabelInTheAggregate) {
  CountingAcks acks;
  Outputs r = run(options(10'000),
                  {{"acme", "neutral", 0.5f, 1},
                   {"acme", "negative", 0.5f, 2},
                   {"acme", "neutral", 0.5f, 3},
                   {"acme", "positive", 0.5f, 4}},
                  acks);
  ASSERT_EQ(r.aggregates.size(), 1u);
  EXPECT_EQ(
      json::parse(r.aggregates[0].value),
      json::parse(R"({"key":"acme","window_start":0,"window_end":10000,"partition":0,"count":4,
      "labels":{"negative":1,"neutral":2,"positive":1},"negative_ratio":0.25,"opinionated":2,
      "negative_ratio_opinionated":0.5,"mean_score":0.5,"trigger":"end_of_input"})"));
}

TEST(WindowAggregateOperator, AlertOverOpinionatedRecordsIgnoresNeutralOnes) {
  CountingAcks acks;
  WindowAggregateOptions o = options(10'000);
  o.alert = {"test-alerts", 0.5, 3, AlertRule::Over::kOpinionated};
  std::vector<Input> in;
  // calm: 2 of 9 negative overall, but 2 of 3 opinionated ones: alerts
  for (int i = 0; i < 9; ++i)
    in.push_back({"calm", i < 2 ? "negative" : i < 3 ? "positive" : "neutral", 0.9f, 100 + i});
  // chatty: 3 negative of 12, 3 of 6 opinionated: not over 0.5
  for (int i = 0; i < 12; ++i)
    in.push_back({"chatty", i < 3 ? "negative" : i < 6 ? "positive" : "neutral", 0.9f, 100 + i});
  // few: 2 negative of 2 opinionated among 10: fewer than min_count opinionated records
  for (int i = 0; i < 10; ++i) in.push_back({"few", i < 2 ? "negative" : "neutral", 0.9f, 100 + i});
  Outputs r = run(o, in, acks);
  ASSERT_EQ(r.alerts.size(), 1u);
  json a = json::parse(r.alerts[0].value);
  EXPECT_EQ(a, json::parse(R"({"alert":"negative_ratio","key":"calm","window_start":0,
      "window_end":10000,"partition":0,"count":9,"negative":2,"opinionated":3,"negative_ratio":0.2222222222222222,
      "negative_ratio_opinionated":0.6666666666666666,"over":"opinionated","threshold":0.5})"));
}

TEST(WindowAggregateOperator, KeysWithQuotesAndControlCharactersStayValidJson) {
  CountingAcks acks;
  std::string nasty = "a\"b\\c\nd\x01\xc3\xa9";
  Outputs r = run(options(1'000), {{nasty, "pos\"itive", 1.0f, 5}}, acks);
  ASSERT_EQ(r.aggregates.size(), 1u);
  EXPECT_EQ(r.aggregates[0].key, nasty);
  json a = json::parse(r.aggregates[0].value);
  EXPECT_EQ(a["key"], nasty);
  EXPECT_EQ(a["labels"]["pos\"itive"], 1);
}

TEST(WindowAggregateOperator, IdleTimeoutClosesWindowsWhileTheStreamPauses) {
  CountingAcks acks;
  metrics::Registry reg;
  WindowAggregateOptions o = options(60'000);
  o.window.idle_timeout = 20ms;
  o.metrics = &reg;
  o.pipeline = "p";
  o.gauges.allow = {"acme"};
  o.alert = {"test-alerts", 0.4, 2};
  int64_t now = core::wall_ms();
  // A window ending about 200 ms after the records' event time.
  int64_t ts = (now / 60'000) * 60'000 + 59'800;
  core::Pipeline p({"idle", 64});
  auto src = std::make_unique<ResultSource>(
      std::vector<Input>{{"acme", "negative", 1.0f, ts}, {"acme", "positive", 1.0f, ts + 1}}, &acks,
      true);
  auto* source = src.get();
  p.set_source("src", std::move(src));
  p.add_stage("windows", std::make_unique<WindowAggregate>(std::move(o), "windows"));
  std::vector<Seen> all;
  auto sink = std::make_unique<testing::CollectingSink>(keep_into(all));
  auto* s = sink.get();
  p.add_stage("sink", std::move(sink));
  p.start();
  std::vector<Seen> seen;
  for (int i = 0; i < 1000 && seen.size() < 4;
       ++i) {  // the source is still running: only idling can close
    std::this_thread::sleep_for(10ms);
    auto hold = s->lock();
    seen = all;
  }
  ASSERT_EQ(seen.size(), 4u);  // two results, the aggregate, the alert
  EXPECT_EQ(seen[2].topic, core::intern_topic("test-aggregates"));
  EXPECT_EQ(seen[3].topic, core::intern_topic("test-alerts"));
  json a = json::parse(seen[2].value);
  EXPECT_EQ(a["trigger"], "idle");
  EXPECT_EQ(a["count"], 2);
  std::string text = reg.render();
  EXPECT_NE(text.find("sluice_sentiment_negative_ratio{key=\"acme\",pipeline=\"p\"} 0.5"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("sluice_window_open_keys{pipeline=\"p\",stage=\"windows\"} 0"),
            std::string::npos)
      << text;
  // The key's alerting gauge says what the alert topic got (0.5 > 0.4).
  EXPECT_NE(text.find("sluice_sentiment_alerting{key=\"acme\",pipeline=\"p\"} 1"),
            std::string::npos)
      << text;
  source->released = true;
  EXPECT_EQ(p.wait(), 0);
  EXPECT_EQ(all.size(), 4u);  // nothing left to close at the end
}

TEST(WindowAggregateOperator, LateRecordsArePassedThroughAndCounted) {
  CountingAcks acks;
  metrics::Registry reg;
  WindowAggregateOptions o = options(1'000);
  o.metrics = &reg;
  o.pipeline = "p";
  Outputs r = run(
      o, {{"k", "positive", 1.0f, 5'000}, {"k", "positive", 1.0f, 10}, {"k", "negative", 1.0f, 20}},
      acks);
  EXPECT_EQ(r.results.size(), 3u);
  ASSERT_EQ(r.aggregates.size(), 1u);
  EXPECT_EQ(json::parse(r.aggregates[0].value)["count"], 1);
  EXPECT_NE(
      reg.render().find("sluice_window_late_records_total{pipeline=\"p\",stage=\"windows\"} 2"),
      std::string::npos);
}

// ---- configuration through the registry ----------------------------------------

config::Loaded load(const std::string& stage_yaml) {
  std::string doc = "name: cfg\nstages:\n  - {name: src, type: generator, count: 10}\n  - " +
                    stage_yaml + "\n  - {name: count, type: counter}\n";
  return config::load_string(doc, *app::builtin_pipeline_schema());
}

std::string build_error(const std::string& stage_yaml) {
  try {
    auto loaded = load(stage_yaml);
    app::build_pipeline(loaded, app::builtin_registry(), nullptr);
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(WindowAggregateConfig, MoreThanOneWorkerIsAConfigErrorAtTheWorkersKey) {
  std::string err =
      build_error("{name: w, type: window_aggregate, aggregates_topic: agg, workers: 2}");
  EXPECT_NE(err.find("stages[1].workers: window_aggregate keeps per-key window state in one "
                     "worker; workers must be 1"),
            std::string::npos)
      << err;
}

TEST(WindowAggregateConfig, HoppingNeedsAnAdvanceNoLargerThanSize) {
  std::string err =
      build_error("{name: w, type: window_aggregate, aggregates_topic: agg, window: hopping}");
  EXPECT_NE(err.find("stages[1].advance: required for hopping windows"), std::string::npos) << err;
  err = build_error(
      "{name: w, type: window_aggregate, aggregates_topic: agg, window: hopping, size: 1m, "
      "advance: 2m}");
  EXPECT_NE(err.find("stages[1].advance: must not exceed size"), std::string::npos) << err;
  err = build_error(
      "{name: w, type: window_aggregate, aggregates_topic: agg, size: 1m, advance: 30s}");
  EXPECT_NE(err.find("stages[1].advance: only hopping windows take an advance"), std::string::npos)
      << err;
  err = build_error("{name: w, type: window_aggregate, aggregates_topic: agg, size: 1500us}");
  EXPECT_NE(err.find("stages[1].size: must be a whole number of milliseconds"), std::string::npos)
      << err;
}

TEST(WindowAggregateConfig, SchemaRejectsMissingTopicAndBadAlertValues) {
  try {
    load("{name: w, type: window_aggregate, alert: {negative_ratio_threshold: 1.5, bogus: 1}}");
    FAIL() << "expected a ConfigError";
  } catch (const config::ConfigError& e) {
    std::string err = e.what();
    EXPECT_NE(err.find("stages[1].aggregates_topic"), std::string::npos) << err;
    EXPECT_NE(err.find("stages[1].alert.negative_ratio_threshold"), std::string::npos) << err;
    EXPECT_NE(err.find("stages[1].alert.bogus: unknown key"), std::string::npos) << err;
  }
}

TEST(WindowAggregateConfig, AlertOverMustBeAllOrOpinionated) {
  std::string err;
  try {
    load("{name: w, type: window_aggregate, aggregates_topic: agg, alert: {over: neutral}}");
  } catch (const config::ConfigError& e) {
    err = e.what();
  }
  EXPECT_NE(err.find("stages[1].alert.over"), std::string::npos) << err;
  auto loaded = load(
      "{name: w, type: window_aggregate, aggregates_topic: agg, positive_label: POS, "
      "negative_label: NEG, alert: {topic: alerts, over: opinionated}}");
  EXPECT_NO_THROW(app::build_pipeline(loaded, app::builtin_registry(), nullptr));
}

TEST(WindowAggregateConfig, ValidStageBuildsAndRunsOnGeneratedRecords) {
  auto loaded = load(
      "{name: w, type: window_aggregate, aggregates_topic: agg, window: hopping, size: 10s, "
      "advance: 5s, "
      "allowed_lateness: 0s, gauge_keys: [a, b], top_k: 3, alert: {topic: alerts, min_count: 5}}");
  auto built = app::build_pipeline(loaded, app::builtin_registry(), nullptr);
  ASSERT_EQ(built.pipeline->stage_count(), 3u);
  built.pipeline->start();
  // Generated records carry no label: they pass through and are not aggregated.
  EXPECT_EQ(built.pipeline->wait(), 0) << built.pipeline->failure();
  EXPECT_EQ(built.pipeline->snapshot(2).items_in, 10u);
}

}  // namespace
}  // namespace sluice::operators
