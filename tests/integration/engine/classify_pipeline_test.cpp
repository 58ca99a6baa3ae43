// `sluice classify` is the pipeline without Kafka: the same texts through
// `sluice broker` + `sluice run` (kafka_source → tokenize → micro_batch →
// infer → classify → kafka_sink, results read with kcat) get the results
// that `sluice classify` prints for them, and a record the pipeline sends to
// the dead-letter topic is an error line of the same code.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/engine/classify_fixtures.h"
#include "tests/support/subprocess.h"

namespace sluice::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

// Lines of a topic, "key<TAB>value".
std::vector<std::pair<std::string, std::string>> read_topic(const std::string& bootstrap,
                                                            const std::string& topic) {
  auto r = run({"kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-q", "-f", "%k\t%s\n"}, {},
               std::nullopt, 60s);
  EXPECT_EQ(r.code, 0) << r.err;
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    auto tab = line.find('\t');
    if (tab != std::string::npos) out.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  return out;
}

TEST(SluiceClassify, PrintsWhatThePipelinesClassifyStageSendsToKafka) {
  const fs::path model = model_with_tokenizer();
  std::vector<std::string> texts;
  for (const auto& t : tweets(400))  // kcat -K splits at the tab; lines end at \r for classify
    if (t.find_first_of("\t\r") == std::string::npos && texts.size() < 200) texts.push_back(t);
  ASSERT_EQ(texts.size(), 200u);

  auto cli = run({sluice_binary(), "classify", "--model", model.string(), "--probs", "--precision",
                  "fp32", "--device", "cpu"},
                 {}, join_lines(texts) + "\n");  // and an empty line
  ASSERT_EQ(cli.code, 0) << cli.err;
  const auto expected = parse_lines(cli.out);
  ASSERT_EQ(expected.size(), texts.size() + 1);
  EXPECT_EQ(
      expected.back(),
      (json{{"event_offset", texts.size()}, {"error", "empty"}, {"detail", "text is empty"}}));

  Subprocess broker({sluice_binary(), "broker", "--topic", "texts:2", "--topic", "results:2",
                     "--topic", "dlq:1"});
  auto addr = broker.first_line(20s);
  ASSERT_TRUE(addr.has_value()) << broker.stderr_text();
  const std::string bootstrap = *addr;
  std::string keyed;
  for (size_t i = 0; i < texts.size(); ++i)
    keyed += "k" + std::to_string(i) + "\t" + texts[i] + "\n";
  keyed += "empty\t\n";
  auto produced = run({"kcat", "-P", "-b", bootstrap, "-t", "texts", "-K", "\t"}, {}, keyed, 60s);
  ASSERT_EQ(produced.code, 0) << produced.err;

  const fs::path yaml = engine::testing::scratch_dir("classify-pipeline") / "classify.yaml";
  const std::string m = "'" + model.string() + "'";
  engine::testing::write_text(yaml,
                              "name: classify-e2e\n"
                              "metrics: {enabled: false}\n"
                              "model: {path: " +
                                  m +
                                  "}\n"
                                  "kafka:\n"
                                  "  bootstrap_servers: " +
                                  bootstrap +
                                  "\n"
                                  "  dead_letter_topic: dlq\n"
                                  "  consumer_properties: {fetch.wait.max.ms: 10}\n"
                                  "stages:\n"
                                  "  - {name: source, type: kafka_source, topics: texts, group: "
                                  "classify-e2e, format: raw}\n"
                                  "  - {name: tokenize, type: tokenize, max_length: 128}\n"
                                  "  - {name: batch, type: micro_batch}\n"
                                  "  - {name: infer, type: infer, device: cpu, precision: fp32}\n"
                                  "  - {name: classify, type: classify, probs: true}\n"
                                  "  - {name: sink, type: kafka_sink, topic: results}\n");
  Subprocess sluice({sluice_binary(), "run", yaml.string()});
  std::vector<std::pair<std::string, std::string>> results;
  for (int i = 0; i < 600 && results.size() < texts.size(); ++i) {  // up to 5 minutes
    std::this_thread::sleep_for(500ms);
    ASSERT_TRUE(sluice.running()) << sluice.stderr_text();
    results = read_topic(bootstrap, "results");
  }
  ASSERT_EQ(results.size(), texts.size()) << sluice.stderr_text();
  sluice.signal(SIGTERM);
  auto code = sluice.wait(60s);
  ASSERT_TRUE(code.has_value()) << "sluice did not stop on SIGTERM";
  EXPECT_EQ(*code, 0) << sluice.stderr_text();

  std::set<std::string> keys;
  for (const auto& [key, value] : results) {
    ASSERT_EQ(key.rfind('k', 0), 0u) << key;
    const size_t i = std::stoul(key.substr(1));
    ASSERT_LT(i, texts.size());
    keys.insert(key);
    json got = json::parse(value), want = expected[i];
    // The pipeline's id is the input's (none: raw text); the CLI's the line number.
    EXPECT_TRUE(got.at("id").is_null()) << value;
    EXPECT_EQ(want.at("id"), i + 1);
    for (auto* j : {&got, &want}) {
      j->erase("id");
      j->erase("latency_ms");
    }
    // Batches of other sizes may sum in another order: probabilities to float rounding.
    EXPECT_NEAR(got.at("score").get<double>(), want.at("score").get<double>(), 1e-6) << key;
    for (const auto& [label, p] : want.at("probs").items())
      EXPECT_NEAR(got.at("probs").at(label).get<double>(), p.get<double>(), 1e-6) << key;
    for (auto* j : {&got, &want}) {
      j->erase("score");
      j->erase("probs");
    }
    EXPECT_EQ(got, want) << key;  // label, model, model_hash, model_version
  }
  EXPECT_EQ(keys.size(), texts.size());
  std::set<std::string> dead;
  for (const auto& d : read_topic(bootstrap, "dlq")) dead.insert(d.first);
  EXPECT_EQ(dead, std::set<std::string>{"empty"});
}

}  // namespace
}  // namespace sluice::testing
