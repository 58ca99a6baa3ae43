// recommend_state → micro_batch → recommend_score in a real pipeline on the
// tiny model of recommend_fixtures.h (a warm user's best items are the
// highest unseen indices; a cold user gets indices 0, 1, 2…): one
// recommendation per event, after the event, in order, seen items never;
// cold start; unknown items; bounds on users and seen items; bad events as
// dead letters; and the stages' configuration through a pipeline file.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "app/wiring/pipeline_factory.h"
#include "app/wiring/registry.h"
#include "operators/micro_batch.h"
#include "operators/recommend_score.h"
#include "operators/recommend_state.h"
#include "src/config/load.h"
#include "src/core/pipeline.h"
#include "tests/support/collecting_sink.h"
#include "tests/support/recommend_fixtures.h"

namespace sluice::operators {
namespace {

using nlohmann::json;

class EventSource : public core::Source {
 public:
  explicit EventSource(std::vector<std::string> events) : events_(std::move(events)) {}
  Poll poll(core::Emitter& out) override {
    if (i_ == events_.size()) return Poll::kEnd;
    core::Record r = core::Record::owned("key", events_[i_]);
    r.partition = 0;
    r.offset = static_cast<int64_t>(i_++);
    r.ingest_ns = core::now_ns();
    out.emit(std::move(r));
    return Poll::kEmitted;
  }

 private:
  std::vector<std::string> events_;
  size_t i_ = 0;
};

struct Output {
  std::map<int64_t, json> results;      // by event offset
  std::map<int64_t, std::string> dead;  // offset → code
  std::map<int64_t, std::string> keys;  // offset → output key
};

Output run(const std::filesystem::path& model_dir, std::vector<std::string> events,
           RecommendStateOptions state = {}, int64_t k = 3, int64_t batch_records = 4) {
  auto model = std::make_shared<const RecommenderModel>(RecommenderModel::load(model_dir));
  core::Pipeline p({"recommend-test", 64});
  testing::CollectingDeadLetters dead;
  p.set_dead_letter_sink(&dead);
  Output out;
  p.set_source("events", std::make_unique<EventSource>(std::move(events)));
  p.add_stage("state", std::make_unique<RecommendState>(model, state, RecommendStateProbe()));
  MicroBatchPolicy policy;
  policy.max_batch_records = batch_records;
  policy.max_batch_tokens = 1 << 20;
  p.add_stage("batch", std::make_unique<MicroBatch>(policy, MicroBatchProbe(), nullptr));
  RecommendScoreOptions so;
  so.k = k;
  so.scorer.device = "cpu";
  p.add_stage("score", std::make_unique<RecommendScore>(model, so, RecommendScoreProbe()));
  p.add_stage("sink", std::make_unique<testing::CollectingSink>([&](core::Record& r) {
                out.results[r.offset] = json::parse(r.value());
                out.keys[r.offset] = std::string(r.key());
              }));
  p.start();
  EXPECT_EQ(p.wait(), 0) << p.failure();
  for (core::DeadLetter& d : dead.take()) out.dead[d.record.offset] = d.code;
  return out;
}

std::string ev(const std::string& user, const std::string& item) {
  return R"({"user":)" + user + R"(,"item":)" + item + R"(,"ts":1})";
}

// The tiny model's ids that are not plain integers, as JSON: items 0, 1 and 3.
const std::string kM0 = R"("m0")",
                  kU1 =
                      "\"\xc3\xbc"
                      "1\"",
                  kQ3 = R"("\"3")";

std::vector<std::string> items_of(const json& r) {
  return r.at("items").get<std::vector<std::string>>();
}

TEST(RecommendPipeline, EachEventGetsItsUsersTopKAfterTheEventWithSeenItemsNeverRecommended) {
  const auto dir = testing::write_tiny_model("recommend-op-basic");
  const Output o =
      run(dir, {ev("1", "\"5\""), ev("1", "4"), ev("\"1\"", "\"\\\"3\""), ev("2", "4")});
  ASSERT_EQ(o.results.size(), 4u);
  EXPECT_TRUE(o.dead.empty());
  EXPECT_EQ(items_of(o.results.at(0)), (std::vector<std::string>{"4", "\"3", "2"}));
  EXPECT_EQ(items_of(o.results.at(1)), (std::vector<std::string>{"\"3", "2",
                                                                 "\xc3\xbc"
                                                                 "1"}));
  // The string "1" is the integer 1's user; 5 has left its 2-item history but stays seen.
  EXPECT_EQ(items_of(o.results.at(2)), (std::vector<std::string>{"2",
                                                                 "\xc3\xbc"
                                                                 "1",
                                                                 "m0"}));
  EXPECT_EQ(items_of(o.results.at(3)), (std::vector<std::string>{"5", "\"3", "2"}));
  const json& r = o.results.at(1);
  EXPECT_EQ(r.at("user"), "1");
  EXPECT_EQ(r.at("model"), "recommend-op-basic");
  EXPECT_EQ(r.at("event_offset"), 1);
  EXPECT_EQ(r.at("scores"),
            json::array({4.5, 3.0, 1.5}));  // u = 1·Q[4] + 0.5·Q[5] = 1.5, × P[i] = i
  EXPECT_GE(r.at("latency_ms").get<double>(), 0.0);
  EXPECT_EQ(o.keys.at(1), "1");  // keyed by user
}

TEST(RecommendPipeline, ColdUsersAndUnknownItemsGetThePopularityList) {
  const auto dir = testing::write_tiny_model("recommend-op-cold");
  const Output o = run(
      dir, {ev("\"new\"", "\"never-seen-item\""), ev("\"w\"", "2"), ev("\"w\"", "\"also-new\"")});
  ASSERT_EQ(o.results.size(), 3u);
  EXPECT_EQ(items_of(o.results.at(0)), (std::vector<std::string>{"m0",
                                                                 "\xc3\xbc"
                                                                 "1",
                                                                 "2"}));
  EXPECT_EQ(o.results.at(0).at("scores"), json::array({6.0, 5.0, 4.0}));
  // An unknown item changes nothing: w's list after it is the list before it.
  EXPECT_EQ(items_of(o.results.at(2)), items_of(o.results.at(1)));
}

TEST(RecommendPipeline, FewerItemsThanKLeftGiveShorterLists) {
  const auto dir = testing::write_tiny_model("recommend-op-short");
  RecommendStateOptions s;
  s.max_seen = 6;
  const Output o =
      run(dir, {ev("1", kM0), ev("1", kU1), ev("1", "2"), ev("1", kQ3), ev("1", "4"), ev("1", "5")},
          s, 3);
  EXPECT_EQ(items_of(o.results.at(3)), (std::vector<std::string>{"5", "4"}));
  EXPECT_EQ(items_of(o.results.at(4)), (std::vector<std::string>{"5"}));
  EXPECT_TRUE(items_of(o.results.at(5)).empty());
}

TEST(RecommendPipeline, SeenItemsAndUsersAreBounded) {
  const auto dir = testing::write_tiny_model("recommend-op-bounds");
  RecommendStateOptions s;
  s.max_users = 2;  // max_seen: the model's 3
  const Output o = run(dir,
                       {ev("1", "5"), ev("1", "4"), ev("1", kQ3), ev("1", "2"), ev("2", kM0),
                        ev("3", kM0), ev("1", kU1)},
                       s, 3);
  // After 4 items, the oldest (5) is no longer seen and comes back first.
  EXPECT_EQ(items_of(o.results.at(3)), (std::vector<std::string>{"5",
                                                                 "\xc3\xbc"
                                                                 "1",
                                                                 "m0"}));
  // Users 2 and 3 pushed user 1 (least recently active) out: 1 starts afresh.
  EXPECT_EQ(items_of(o.results.at(6)), (std::vector<std::string>{"5", "4", "\"3"}));
}

TEST(RecommendPipeline, BadEventsAreDeadLettersAndTheRestFlowOn) {
  const auto dir = testing::write_tiny_model("recommend-op-bad");
  const Output o = run(dir, {ev("1", "5"), "not json", R"({"user": 1, "ts": 2})", "",
                             R"({"user": [1], "item": 1, "ts": 1})", ev("1", "4")});
  EXPECT_EQ(o.dead,
            (std::map<int64_t, std::string>{
                {1, "invalid_json"}, {2, "missing_field"}, {3, "empty"}, {4, "missing_field"}}));
  ASSERT_EQ(o.results.size(), 2u);
  EXPECT_EQ(items_of(o.results.at(5)), (std::vector<std::string>{"\"3", "2",
                                                                 "\xc3\xbc"
                                                                 "1"}));
}

TEST(RecommendPipeline, ManyUsersInBatchesOfEveryShapeGiveTheSameListsAsOneByOne) {
  const auto dir = testing::write_tiny_model("recommend-op-batches");
  std::vector<std::string> events;
  for (int i = 0; i < 300; ++i)
    events.push_back(ev(std::to_string(i % 37), std::to_string((i * 7) % 6)));
  const Output one = run(dir, events, {}, 3, 1);
  const Output many = run(dir, events, {}, 3, 64);
  ASSERT_EQ(one.results.size(), 300u);
  for (const auto& [offset, r] : one.results)
    EXPECT_EQ(r.at("items"), many.results.at(offset).at("items"));
}

TEST(RecommendPipeline, StagesAreConfiguredThroughAPipelineFile) {
  const auto dir = testing::write_tiny_model("recommend-op-config");
  const std::string yaml =
      "name: rec\nmetrics: {enabled: false}\nstages:\n"
      "  - {name: gen, type: generator, count: 1}\n"
      "  - {name: state, type: recommend_state, model: " +
      dir.string() +
      ", max_users: 10}\n"
      "  - {name: batch, type: micro_batch, max_batch_tokens: 1000000}\n"
      "  - {name: score, type: recommend_score, model: " +
      dir.string() +
      ", k: 2, device: cpu}\n"
      "  - {name: count, type: counter}\n";
  const auto loaded = config::load_string(yaml, *app::builtin_pipeline_schema());
  EXPECT_NO_THROW(app::build_pipeline(loaded, app::builtin_registry(), nullptr));
  const std::string bad =
      "name: rec\nstages:\n"
      "  - {name: gen, type: generator, count: 1}\n"
      "  - {name: state, type: recommend_state, model: /nonexistent}\n"
      "  - {name: count, type: counter}\n";
  try {
    app::build_pipeline(config::load_string(bad, *app::builtin_pipeline_schema()),
                        app::builtin_registry(), nullptr);
    ADD_FAILURE() << "expected a configuration error";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("stages[1]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("/nonexistent"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sluice::operators
