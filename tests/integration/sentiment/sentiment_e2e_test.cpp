// The sentiment pipeline as a user runs it: `sluice broker`, then `sluice run
// pipelines/sentiment.yaml` on the shipped model, tweets fed and results read
// with kcat. Checks every result (valid JSON, a label of the model's id2label,
// a score in [0, 1], the input's key and id), dead letters for bad input, the
// per-key gauges, that the window aggregates add up to the counts computed
// independently from the result topic (neutral included), and that the
// per-key alerting gauge says what the alerts topic says.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "src/engine/model_identity.h"
#include "tests/support/subprocess.h"

namespace sluice::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

const fs::path kRoot = SLUICE_SOURCE_DIR;
const fs::path kModel = kRoot / "models" / "sentiment-tweet-small";
const std::vector<std::string> kBrands = {"acme", "globex", "initech", "umbrella", "hooli"};

std::vector<std::string> load_tweets(size_t n) {
  fs::path real = fs::path(SLUICE_SHARED_DATA) / "tweeteval-sentiment" / "test_text.txt";
  fs::path path =
      fs::exists(real) ? real : fs::path(SLUICE_FIXTURES) / "sentiment" / "sample_tweets.txt";
  std::ifstream in(path);
  std::vector<std::string> out;
  std::string line;
  while (out.size() < n && std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

std::set<std::string> model_labels() {
  std::ifstream in(kModel / "config.json");
  json cfg = json::parse(in);
  std::set<std::string> out;
  for (auto& [id, name] : cfg.at("id2label").items()) out.insert(name.get<std::string>());
  return out;
}

TEST(SentimentPipeline, EveryTweetGetsOneLabelledResultAndWindowsMatchTheResults) {
  if (!fs::exists(kModel / "config.json") || !fs::exists(kModel / "model.safetensors"))
    GTEST_SKIP() << "no shipped model at " << kModel << " (tools/train_sentiment.py writes it)";
  const size_t n = 300;
  std::vector<std::string> tweets = load_tweets(n);
  ASSERT_FALSE(tweets.empty());

  Subprocess broker({sluice_binary(), "broker", "--topic", "tweets:4", "--topic", "results:4",
                     "--topic", "aggregates:1", "--topic", "alerts:1", "--topic", "dlq:1"});
  auto addr = broker.first_line(20s);
  ASSERT_TRUE(addr.has_value()) << broker.stderr_text();
  const std::string bootstrap = *addr;

  // Input: JSON with a synthetic brand, keyed k<i>; plus two records that cannot be processed.
  std::map<std::string, std::string> brand_of;  // input key → brand
  std::ostringstream input;
  for (size_t i = 0; i < n; ++i) {
    std::string key = "k" + std::to_string(i);
    std::string brand = kBrands[i % kBrands.size()];
    brand_of[key] = brand;
    json v = {
        {"id", "t" + std::to_string(i)}, {"text", tweets[i % tweets.size()]}, {"brand", brand}};
    input << key << '\t' << v.dump() << '\n';
  }
  input << "bad1\t{\"id\": \"x\", \"text\": \n";            // invalid JSON
  input << "bad2\t{\"id\": \"y\", \"brand\": \"acme\"}\n";  // no text
  auto produced =
      run({"kcat", "-P", "-b", bootstrap, "-t", "tweets", "-K", "\t"}, {}, input.str(), 60s);
  ASSERT_EQ(produced.code, 0) << produced.err;

  const int port = free_port();
  // Threshold 0: every window with min_count opinionated records alerts, so the
  // alerting gauges have something to agree with (min_count 5: a window holds
  // one input partition's records of a brand, a quarter of them).
  Subprocess sluice({sluice_binary(), "run", (kRoot / "pipelines" / "sentiment.yaml").string(),
                     "--set", "stages.windows.alert.negative_ratio_threshold=0", "--set",
                     "stages.windows.alert.min_count=5"},
                    {{"SLUICE_BOOTSTRAP", bootstrap},
                     {"SLUICE_INPUT_TOPIC", "tweets"},
                     {"SLUICE_OUTPUT_TOPIC", "results"},
                     {"SLUICE_AGGREGATES_TOPIC", "aggregates"},
                     {"SLUICE_ALERTS_TOPIC", "alerts"},
                     {"SLUICE_DLQ_TOPIC", "dlq"},
                     {"SLUICE_GROUP", "e2e"},
                     {"SLUICE_MODEL", kModel.string()},
                     {"SLUICE_FETCH_WAIT_MAX_MS", "10"},
                     {"SLUICE_METRICS_LISTEN", "127.0.0.1:" + std::to_string(port)}});

  std::vector<std::pair<std::string, std::string>> results;
  for (int i = 0; i < 600 && results.size() < n; ++i) {  // up to 5 minutes on a busy machine
    std::this_thread::sleep_for(500ms);
    ASSERT_TRUE(sluice.running()) << sluice.stderr_text();
    results = read_topic(bootstrap, "results");
  }
  ASSERT_EQ(results.size(), n) << sluice.stderr_text();

  // Idle windows close within idle_timeout (5 s) after the stream stops: the
  // busiest keys' gauges appear on /metrics.
  std::string metrics;
  for (int i = 0; i < 120; ++i) {
    metrics = http_get("127.0.0.1", port, "/metrics").second;
    if (metrics.find("sluice_sentiment_negative_ratio{key=\"acme\"") != std::string::npos) break;
    std::this_thread::sleep_for(250ms);
  }
  EXPECT_NE(metrics.find("sluice_sentiment_negative_ratio{key=\"acme\",pipeline=\"sentiment\"}"),
            std::string::npos);
  // The model is named by its content hash, on /metrics as in every result.
  const std::string model_hash = engine::identify_model(kModel).hash;
  EXPECT_NE(metrics.find("model_hash=\"" + model_hash + "\""), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("sluice_window_closed_total{pipeline=\"sentiment\",stage=\"windows\"}"),
            std::string::npos);
  std::set<std::string> alerting_gauge;  // keys whose last window alerted, per /metrics
  for (const auto& brand : kBrands) {
    const std::string series =
        "sluice_sentiment_alerting{key=\"" + brand + "\",pipeline=\"sentiment\"} ";
    const auto at = metrics.find(series);
    ASSERT_NE(at, std::string::npos) << series << " missing:\n" << metrics;
    if (metrics.compare(at + series.size(), 1, "1") == 0) alerting_gauge.insert(brand);
  }

  sluice.signal(SIGTERM);
  auto code = sluice.wait(60s);
  ASSERT_TRUE(code.has_value()) << "sluice did not stop on SIGTERM";
  EXPECT_EQ(*code, 0) << sluice.stderr_text();

  // Every result: valid JSON, a model label, a score in [0,1], the input's key and id, once each.
  const std::set<std::string> labels = model_labels();
  std::map<std::pair<std::string, std::string>, uint64_t> expected;  // (brand, label) → count
  std::set<std::string> keys;
  for (const auto& [key, value] : results) {
    json r = json::parse(value, nullptr, false);
    ASSERT_FALSE(r.is_discarded()) << "not JSON: " << value;
    ASSERT_TRUE(brand_of.count(key)) << "unknown key " << key;
    EXPECT_TRUE(keys.insert(key).second) << "duplicate result for " << key;
    EXPECT_EQ(r.at("id"), "t" + key.substr(1));
    const std::string label = r.at("label").get<std::string>();
    EXPECT_TRUE(labels.count(label)) << "label " << label << " not in id2label";
    const double score = r.at("score").get<double>();
    EXPECT_GE(score, 0.0);
    EXPECT_LE(score, 1.0);
    EXPECT_EQ(r.at("model_hash"), model_hash);
    EXPECT_EQ(r.at("model_version"), "1.2");
    expected[{brand_of[key], label}] += 1;
  }

  auto dead = read_topic(bootstrap, "dlq");
  std::set<std::string> dead_keys;
  for (const auto& d : dead) dead_keys.insert(d.first);
  EXPECT_EQ(dead_keys, (std::set<std::string>{"bad1", "bad2"}));

  // Aggregates, summed over every window of each key, equal the result counts.
  std::map<std::pair<std::string, std::string>, uint64_t> aggregated;
  // Windows are per input partition (the state store's unit): a key's
  // records arrive on every partition of the tweets topic, keyed by id.
  std::map<std::pair<std::string, int>, json> last_window;  // (key, partition) → last aggregate
  uint64_t total = 0;
  for (const auto& [key, value] : read_topic(bootstrap, "aggregates")) {
    json a = json::parse(value);
    EXPECT_EQ(a.at("key"), key);
    uint64_t count = a.at("count").get<uint64_t>(), sum = 0, negative = 0, positive = 0;
    for (auto& [label, c] : a.at("labels").items()) {
      aggregated[{key, label}] += c.get<uint64_t>();
      sum += c.get<uint64_t>();
      if (label == "negative") negative = c.get<uint64_t>();
      if (label == "positive") positive = c.get<uint64_t>();
    }
    EXPECT_EQ(sum, count);
    EXPECT_DOUBLE_EQ(a.at("negative_ratio").get<double>(), static_cast<double>(negative) / count);
    EXPECT_EQ(a.at("opinionated").get<uint64_t>(), negative + positive);
    if (negative + positive > 0) {
      EXPECT_DOUBLE_EQ(a.at("negative_ratio_opinionated").get<double>(),
                       static_cast<double>(negative) / static_cast<double>(negative + positive));
    }
    EXPECT_LT(a.at("window_start").get<int64_t>(), a.at("window_end").get<int64_t>());
    total += count;
    const std::pair<std::string, int> kp{key, a.at("partition").get<int>()};
    if (!last_window.count(kp) || last_window[kp]["window_end"] < a["window_end"])
      last_window[kp] = a;
  }
  EXPECT_EQ(total, n);
  EXPECT_EQ(aggregated, expected);
  size_t neutral = 0;
  for (const auto& [brand_label, c] : expected) neutral += brand_label.second == "neutral" ? c : 0;
  EXPECT_GT(neutral, 0u) << "the tweet model labels some tweets neutral";

  // The alerts topic and the alerting gauges agree. An alert record matches
  // its window (same counts); a key's gauge shows the decision on the last
  // window that closed for it, which is one of its partitions' last windows:
  // 1 only if one of those alerted, and 1 whenever all of them did.
  std::set<std::pair<std::string, int>> alerted_last;
  for (const auto& [key, value] : read_topic(bootstrap, "alerts")) {
    json a = json::parse(value);
    EXPECT_EQ(a.at("over"), "opinionated");
    EXPECT_EQ(a.at("threshold"), 0.0);
    const json& w = last_window.at({key, a.at("partition").get<int>()});
    if (a.at("window_end") != w.at("window_end")) continue;
    EXPECT_EQ(a.at("count"), w.at("count"));
    EXPECT_EQ(a.at("opinionated"), w.at("opinionated"));
    EXPECT_GE(a.at("opinionated").get<uint64_t>(), 5u);  // min_count
    alerted_last.insert({key, a.at("partition").get<int>()});
  }
  EXPECT_FALSE(alerted_last.empty());
  std::map<std::string, std::pair<int, int>> per_key;  // key → (partitions alerted, partitions)
  for (const auto& [kp, w] : last_window) {
    per_key[kp.first].second += 1;
    per_key[kp.first].first += alerted_last.count(kp) ? 1 : 0;
  }
  for (const auto& [key, n] : per_key) {
    if (n.first == 0) EXPECT_FALSE(alerting_gauge.count(key)) << key << ": no window alerted";
    if (n.first == n.second)
      EXPECT_TRUE(alerting_gauge.count(key)) << key << ": every window alerted";
  }
  for (const std::string& key : alerting_gauge) EXPECT_TRUE(per_key.count(key)) << key;
}

}  // namespace
}  // namespace sluice::testing
