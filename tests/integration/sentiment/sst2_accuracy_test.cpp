// The shipped sentiment model through the CLI a user would try first:
// `sluice classify --model models/sentiment-sst2-small` on the SST-2 dev set
// (never trained on) must label at least 80 % of the sentences correctly.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/subprocess.h"

namespace sluice::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

TEST(SentimentModel, Sst2DevAccuracyThroughTheCliIsAtLeast80Percent) {
  const fs::path model = fs::path(SLUICE_SOURCE_DIR) / "models" / "sentiment-sst2-small";
  const fs::path dev = fs::path(SLUICE_SHARED_DATA) / "sst2" / "dev.tsv";
  if (!fs::exists(dev))
    GTEST_SKIP() << "SST-2 dev set not found at " << dev << " (../shared/data is absent)";
  if (!fs::exists(model / "config.json")) GTEST_SKIP() << "no shipped model at " << model;

  // id2label of the model: SST-2's 0/1 are negative/positive.
  std::ifstream cfg_in(model / "config.json");
  json cfg = json::parse(cfg_in);
  const std::string neg = cfg.at("id2label").at("0"), pos = cfg.at("id2label").at("1");
  ASSERT_EQ(neg, "negative");
  ASSERT_EQ(pos, "positive");

  std::ifstream in(dev);
  std::string line;
  std::getline(in, line);
  ASSERT_EQ(line, "sentence\tlabel") << dev;
  std::string texts;
  std::vector<std::string> gold;
  while (std::getline(in, line)) {
    auto tab = line.rfind('\t');
    if (line.empty() || tab == std::string::npos) continue;
    texts += line.substr(0, tab) + "\n";
    gold.push_back(line.substr(tab + 1) == "1" ? pos : neg);
  }
  ASSERT_EQ(gold.size(), 872u);

  auto r = run({sluice_binary(), "classify", "--model", model.string()}, {}, texts, 600s);
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream out(r.out);
  size_t n = 0, correct = 0;
  while (std::getline(out, line)) {
    ASSERT_LT(n, gold.size()) << "more results than inputs";
    json res = json::parse(line);
    if (res.at("label") == gold[n]) ++correct;
    ++n;
  }
  ASSERT_EQ(n, gold.size());
  const double accuracy = static_cast<double>(correct) / static_cast<double>(n);
  std::cout << "SST-2 dev accuracy: " << correct << "/" << n << " = " << accuracy << "\n";
  EXPECT_GE(accuracy, 0.80);
}

}  // namespace
}  // namespace sluice::testing
