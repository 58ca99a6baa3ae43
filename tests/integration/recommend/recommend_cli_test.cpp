// `sluice recommend` as a user runs it: the real binary, one JSON event per
// line in, one line per event out, in order. The model is the tiny one of
// recommend_fixtures.h (a warm user's best items are the highest unseen
// indices, a cold user gets indices 0, 1, 2…), so every list is known.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/recommend_fixtures.h"
#include "tests/support/subprocess.h"

namespace sluice::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<json> parse_lines(const std::string& out) {
  std::vector<json> v;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) v.push_back(json::parse(line));
  return v;
}

std::vector<std::string> items_of(const json& r) {
  return r.at("items").get<std::vector<std::string>>();
}

TEST(SluiceRecommend, OneLinePerEventInOrderWithBadEventsAsErrorLines) {
  const fs::path model = write_tiny_model("cli-recommend");
  const std::string events =
      "{\"user\":1,\"item\":5,\"ts\":1}\n"
      "{\"user\":\"new\",\"item\":\"unknown\",\"ts\":2}\n"
      "not json\n"
      "{\"user\":1,\"ts\":3}\n"
      "\n"
      "{\"user\":\"1\",\"item\":4,\"ts\":4,\"rating\":4.5,\"type\":\"view\"}\r\n"
      "{\"user\":2,\"item\":\"m0\",\"ts\":5}";  // no final newline
  auto r = run({sluice_binary(), "recommend", "--model", model.string(), "--k", "3",
                "--max-batch-records", "2"},
               {}, events);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = parse_lines(r.out);
  ASSERT_EQ(lines.size(), 7u) << r.out;
  for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i].at("event_offset"), i);
  EXPECT_EQ(items_of(lines[0]), (std::vector<std::string>{"4", "\"3", "2"}));
  EXPECT_EQ(lines[0].at("user"), "1");
  EXPECT_EQ(lines[0].at("model"), "cli-recommend");
  EXPECT_EQ(lines[0].at("scores"), json::array({4.0, 3.0, 2.0}));
  // Cold user, unknown item: the popularity list.
  EXPECT_EQ(items_of(lines[1]), (std::vector<std::string>{"m0",
                                                          "\xc3\xbc"
                                                          "1",
                                                          "2"}));
  EXPECT_EQ(lines[2].at("error"), "invalid_json");
  EXPECT_EQ(lines[3].at("error"), "missing_field");
  EXPECT_EQ(lines[4].at("error"), "empty");
  // The string "1" is the integer 1's user: 5 and 4 both seen now.
  EXPECT_EQ(items_of(lines[5]), (std::vector<std::string>{"\"3", "2",
                                                          "\xc3\xbc"
                                                          "1"}));
  EXPECT_EQ(items_of(lines[6]), (std::vector<std::string>{"5", "4", "\"3"}));
}

TEST(SluiceRecommend, ResultsDoNotDependOnTheBatchSize) {
  const fs::path model = write_tiny_model("cli-recommend-batches");
  std::string events;
  for (int i = 0; i < 2000; ++i)
    events += "{\"user\":" + std::to_string(i % 53) + ",\"item\":" + std::to_string((i * 7) % 6) +
              ",\"ts\":" + std::to_string(i) + "}\n";
  auto one = run({sluice_binary(), "recommend", "--model", model.string(), "--k", "4",
                  "--max-batch-records", "1"},
                 {}, events);
  auto many = run({sluice_binary(), "recommend", "--model", model.string(), "--k", "4",
                   "--max-batch-records", "256", "--max-delay-ms", "5"},
                  {}, events);
  ASSERT_EQ(one.code, 0) << one.err;
  ASSERT_EQ(many.code, 0) << many.err;
  const auto a = parse_lines(one.out), b = parse_lines(many.out);
  ASSERT_EQ(a.size(), 2000u);
  ASSERT_EQ(b.size(), 2000u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].at("items"), b[i].at("items")) << "line " << i;
    EXPECT_EQ(a[i].at("scores"), b[i].at("scores")) << "line " << i;
  }
}

TEST(SluiceRecommend, HostileLinesAreBoundedErrorsAndTheStreamGoesOn) {
  const fs::path model = write_tiny_model("cli-recommend-hostile");
  std::string events;
  events += std::string(1 << 20, '[') + "\n";                                      // deep and long
  events += "{\"user\":\"" + std::string(300, 'u') + "\",\"item\":5,\"ts\":1}\n";  // id too long
  events += "{\"user\":1.5,\"item\":5,\"ts\":1}\n";                                // fractional id
  events += "{\"user\":1,\"item\":5,\"ts\":1e999}\n";     // ts out of range
  events += "{\"user\":\"\xff\",\"item\":5,\"ts\":1}\n";  // invalid UTF-8
  events += "{\"user\":1,\"item\":5,\"ts\":1}\n";
  auto r = run({sluice_binary(), "recommend", "--model", model.string(), "--k", "2",
                "--max-record-bytes", "4096"},
               {}, events);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = parse_lines(r.out);
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0].at("error"), "too_large");
  EXPECT_EQ(lines[1].at("error"), "too_large");
  EXPECT_EQ(lines[2].at("error"), "missing_field");
  EXPECT_EQ(lines[3].at("error"), "missing_field");
  EXPECT_EQ(lines[4].at("error"), "invalid_utf8");
  EXPECT_EQ(items_of(lines[5]), (std::vector<std::string>{"4", "\"3"}));
}

TEST(SluiceRecommend, BadModelsAndArgumentsExitTwoNamingTheProblem) {
  const fs::path model = write_tiny_model("cli-recommend-bad");
  fs::remove(model / "item_ids.json");
  auto r = run({sluice_binary(), "recommend", "--model", model.string()}, {}, "");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("item_ids.json"), std::string::npos) << r.err;

  r = run({sluice_binary(), "recommend"}, {}, "");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--model"), std::string::npos) << r.err;

  const fs::path good = write_tiny_model("cli-recommend-args");
  r = run({sluice_binary(), "recommend", "--model", good.string(), "--k", "0"}, {}, "");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--k"), std::string::npos) << r.err;
  r = run({sluice_binary(), "recommend", "--model", good.string(), "--device", "tpu"}, {}, "");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("tpu"), std::string::npos) << r.err;
  // Well spelled but not usable here (no machine has GPU 9999): refused
  // before the score stage starts, not a runtime failure (exit 1).
  r = run({sluice_binary(), "recommend", "--model", good.string(), "--device", "cuda:9999"}, {},
          "{\"user\":\"u1\",\"item\":1,\"ts\":1}\n");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("cuda:9999"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sluice::testing
