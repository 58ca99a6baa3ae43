// pipelines/recommend.yaml as a user runs it: `sluice broker`, `sluice run`
// on the hand-computable model of recommend_fixtures.h, events produced and
// results read with kcat. Each user's results, in the order the topic holds
// them, must be exactly what `sluice recommend` prints for that user's events
// (a user's state depends only on that user's events), keyed by the user;
// bad events are dead letters; the recommend metrics are on /metrics. And
// users' history survives a restart (durable state).
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "tests/support/recommend_fixtures.h"
#include "tests/support/subprocess.h"

namespace sluice::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

const fs::path kRoot = SLUICE_SOURCE_DIR;

TEST(RecommendPipeline, EachUsersResultsOnKafkaAreWhatSluiceRecommendGivesThatUser) {
  const fs::path model = write_tiny_model("pipeline-recommend");
  const size_t n = 400;
  std::string events, keyed;
  for (size_t i = 0; i < n; ++i) {
    const std::string user = "u" + std::to_string(i % 17);
    const std::string e = "{\"user\":\"" + user + "\",\"item\":" + std::to_string((i * 7) % 6) +
                          ",\"ts\":" + std::to_string(i) + "}";
    events += e + "\n";
    keyed += user + "\t" + e + "\n";
  }
  keyed += "bad1\tnot json\n";
  keyed += "bad2\t{\"user\":\"u1\",\"ts\":1}\n";

  auto expected_run =
      run({sluice_binary(), "recommend", "--model", model.string(), "--k", "3"}, {}, events);
  ASSERT_EQ(expected_run.code, 0) << expected_run.err;
  std::map<std::string, std::vector<json>> expected;  // user → results in event order
  {
    std::istringstream in(expected_run.out);
    for (std::string line; std::getline(in, line);) {
      json r = json::parse(line);
      expected[r.at("user").get<std::string>()].push_back(r);
    }
  }
  ASSERT_EQ(expected.size(), 17u);

  // The state stage's changelog is made up front: the embedded broker cannot create topics.
  Subprocess broker({sluice_binary(), "broker", "--topic", "events:4", "--topic", "recs:4",
                     "--topic", "dlq:1", "--topic", "e2e-recommend-state-changelog:4"});
  auto addr = broker.first_line(20s);
  ASSERT_TRUE(addr.has_value()) << broker.stderr_text();
  const std::string bootstrap = *addr;
  auto produced = run({"kcat", "-P", "-b", bootstrap, "-t", "events", "-K", "\t"}, {}, keyed, 60s);
  ASSERT_EQ(produced.code, 0) << produced.err;

  const int port = free_port();
  Subprocess sluice({sluice_binary(), "run", (kRoot / "pipelines" / "recommend.yaml").string()},
                    {{"SLUICE_BOOTSTRAP", bootstrap},
                     {"SLUICE_INPUT_TOPIC", "events"},
                     {"SLUICE_OUTPUT_TOPIC", "recs"},
                     {"SLUICE_DLQ_TOPIC", "dlq"},
                     {"SLUICE_GROUP", "e2e-recommend"},
                     {"SLUICE_MODEL", model.string()},
                     {"SLUICE_K", "3"},
                     {"SLUICE_DEVICE", "cpu"},
                     {"SLUICE_FETCH_WAIT_MAX_MS", "10"},
                     {"SLUICE_METRICS_LISTEN", "127.0.0.1:" + std::to_string(port)}});

  std::vector<std::pair<std::string, std::string>> results;
  for (int i = 0; i < 600 && results.size() < n; ++i) {  // up to 5 minutes on a busy machine
    std::this_thread::sleep_for(500ms);
    ASSERT_TRUE(sluice.running()) << sluice.stderr_text();
    results = read_topic(bootstrap, "recs");
  }
  ASSERT_EQ(results.size(), n) << sluice.stderr_text();
  const std::string metrics = http_get("127.0.0.1", port, "/metrics").second;

  sluice.signal(SIGTERM);
  auto code = sluice.wait(60s);
  ASSERT_TRUE(code.has_value()) << "sluice did not stop on SIGTERM";
  EXPECT_EQ(*code, 0) << sluice.stderr_text();

  std::map<std::string, std::vector<json>> got;
  for (const auto& [key, value] : results) {
    json r = json::parse(value);
    EXPECT_EQ(key, r.at("user")) << value;
    got[key].push_back(r);
  }
  ASSERT_EQ(got.size(), expected.size());
  for (const auto& [user, want] : expected) {
    const auto& have = got[user];
    ASSERT_EQ(have.size(), want.size()) << user;
    for (size_t j = 0; j < want.size(); ++j) {
      EXPECT_EQ(have[j].at("items"), want[j].at("items")) << user << " #" << j;
      EXPECT_EQ(have[j].at("scores"), want[j].at("scores")) << user << " #" << j;
      EXPECT_EQ(have[j].at("model"), "pipeline-recommend");
      EXPECT_GE(have[j].at("latency_ms").get<double>(), 0.0);
    }
  }

  std::set<std::string> dead_keys;
  for (const auto& d : read_topic(bootstrap, "dlq")) dead_keys.insert(d.first);
  EXPECT_EQ(dead_keys, (std::set<std::string>{"bad1", "bad2"}));

  for (const char* m :
       {"sluice_recommend_latency_seconds_bucket", "sluice_recommend_batch_rows",
        "sluice_recommend_gemm_seconds", "sluice_recommend_topk_seconds",
        "sluice_recommend_cold_starts_total", "sluice_recommend_users{", "sluice_model_info{"})
    EXPECT_NE(metrics.find(m), std::string::npos) << m << " not on /metrics";
}

// A restart keeps every user's history: the first half of the events, a
// stop (SIGTERM), the second half to a new process of the same group. Users'
// state comes back from the changelog topic `<group>-state-changelog`, so
// each user's results over both runs are exactly what one uninterrupted
// `sluice recommend` gives (items seen before the restart stay excluded, the
// pre-restart history still shapes the user vector). With state in memory
// only, the second run starts every user cold.
TEST(RecommendPipeline, UsersHistorySurvivesARestartOfTheProcess) {
  const fs::path model = write_tiny_model("restart-recommend");
  const size_t n = 240;
  std::vector<std::string> keyed_half[2];
  std::string events;
  for (size_t i = 0; i < n; ++i) {
    const std::string user = "u" + std::to_string(i % 11);
    const std::string e = "{\"user\":\"" + user + "\",\"item\":" + std::to_string((i * 5) % 6) +
                          ",\"ts\":" + std::to_string(i) + "}";
    events += e + "\n";
    keyed_half[i < n / 2 ? 0 : 1].push_back(user + "\t" + e + "\n");
  }
  auto expected_run =
      run({sluice_binary(), "recommend", "--model", model.string(), "--k", "3"}, {}, events);
  ASSERT_EQ(expected_run.code, 0) << expected_run.err;
  std::map<std::string, std::vector<json>> expected;
  {
    std::istringstream in(expected_run.out);
    for (std::string line; std::getline(in, line);) {
      json r = json::parse(line);
      expected[r.at("user").get<std::string>()].push_back(r);
    }
  }

  const std::string group = "restart-recommend";
  // The embedded broker cannot create topics on request: the changelog is made up front.
  Subprocess broker({sluice_binary(), "broker", "--topic", "events:3", "--topic", "recs:3",
                     "--topic", "dlq:1", "--topic", group + "-state-changelog:3"});
  auto addr = broker.first_line(20s);
  ASSERT_TRUE(addr.has_value()) << broker.stderr_text();
  const std::string bootstrap = *addr;

  std::string log;
  size_t want = 0;
  for (int round = 0; round < 2; ++round) {
    std::string keyed;
    for (const auto& line : keyed_half[round]) keyed += line;
    auto produced =
        run({"kcat", "-P", "-b", bootstrap, "-t", "events", "-K", "\t"}, {}, keyed, 60s);
    ASSERT_EQ(produced.code, 0) << produced.err;
    want += keyed_half[round].size();
    Subprocess sluice({sluice_binary(), "run", (kRoot / "pipelines" / "recommend.yaml").string()},
                      {{"SLUICE_BOOTSTRAP", bootstrap},
                       {"SLUICE_OUTPUT_TOPIC", "recs"},
                       {"SLUICE_DLQ_TOPIC", "dlq"},
                       {"SLUICE_GROUP", group},
                       {"SLUICE_MODEL", model.string()},
                       {"SLUICE_K", "3"},
                       {"SLUICE_DEVICE", "cpu"},
                       {"SLUICE_FETCH_WAIT_MAX_MS", "10"},
                       {"SLUICE_METRICS_LISTEN", "127.0.0.1:" + std::to_string(free_port())}});
    size_t got = 0;
    for (int i = 0; i < 600 && got < want; ++i) {
      std::this_thread::sleep_for(500ms);
      ASSERT_TRUE(sluice.running()) << sluice.stderr_text();
      got = read_topic(bootstrap, "recs").size();
    }
    ASSERT_EQ(got, want) << sluice.stderr_text();
    sluice.signal(SIGTERM);
    auto code = sluice.wait(60s);
    ASSERT_TRUE(code.has_value()) << "sluice did not stop on SIGTERM";
    EXPECT_EQ(*code, 0) << sluice.stderr_text();
    log += sluice.stderr_text();
  }

  std::map<std::string, std::vector<json>> got;
  for (const auto& [key, value] : read_topic(bootstrap, "recs"))
    got[key].push_back(json::parse(value));
  ASSERT_EQ(got.size(), expected.size());
  for (const auto& [user, want_user] : expected) {
    const auto& have = got[user];
    ASSERT_EQ(have.size(), want_user.size()) << user;
    for (size_t j = 0; j < want_user.size(); ++j) {
      EXPECT_EQ(have[j].at("items"), want_user[j].at("items")) << user << " #" << j;
      EXPECT_EQ(have[j].at("scores"), want_user[j].at("scores")) << user << " #" << j;
    }
  }
  if (HasFailure()) std::printf("--- sluice\n%s\n", log.c_str());
}

}  // namespace
}  // namespace sluice::testing
