// The default sentiment model through the CLI a user would try first:
// `sluice classify --model models/sentiment-tweet-small` on the TweetEval
// sentiment test split (never trained on, never used for a choice), scored
// with TweetEval's metric, macro-averaged recall, and on the negative and
// positive tweets alone. The floors are issue 15's goals (65 macro recall,
// 87 % neg/pos), which the model card's measured values (every precision)
// clear, so a change to tokenization, the encoder or the classifier that
// costs accuracy shows here.
#include <gtest/gtest.h>

#include <array>
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

constexpr std::array<const char*, 3> kLabels = {"negative", "neutral", "positive"};
// Measured (models/sentiment-tweet-small/README.md, version 1.2): macro
// recall 0.652-0.653, neg/pos 0.887-0.888 (fp32, bf16, int8). Version 1.1
// (0.637 / 0.873) failed the first.
constexpr double kMacroRecallFloor = 0.650;
constexpr double kPolarAccuracyFloor = 0.870;

TEST(TweetSentimentModel, TweetEvalTestThroughTheCliBeatsTheFloors) {
  const fs::path model = fs::path(SLUICE_SOURCE_DIR) / "models" / "sentiment-tweet-small";
  const fs::path data = fs::path(SLUICE_SHARED_DATA) / "tweeteval-sentiment";
  if (!fs::exists(data / "test_text.txt"))
    GTEST_SKIP() << "TweetEval not found at " << data << " (../shared/data is absent)";
  if (!fs::exists(model / "config.json")) GTEST_SKIP() << "no shipped model at " << model;

  std::ifstream text_in(data / "test_text.txt"), label_in(data / "test_labels.txt");
  std::string texts, line;
  std::vector<int> gold;
  while (std::getline(text_in, line)) texts += line + "\n";
  while (std::getline(label_in, line))
    if (!line.empty()) gold.push_back(std::stoi(line));
  ASSERT_EQ(gold.size(), 12284u);

  auto r =
      run({sluice_binary(), "classify", "--model", model.string(), "--probs"}, {}, texts, 900s);
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream out(r.out);
  std::array<size_t, 3> hits{}, totals{};
  size_t n = 0, polar = 0, polar_right = 0;
  while (std::getline(out, line)) {
    ASSERT_LT(n, gold.size()) << "more results than inputs";
    const json res = json::parse(line);
    const int g = gold[n++];
    totals[g] += 1;
    hits[g] += res.at("label") == kLabels[g];
    if (g != 1) {  // negative or positive: does the gold polarity outweigh the other one?
      const double neg = res.at("probs").at("negative"), pos = res.at("probs").at("positive");
      polar += 1;
      polar_right += (neg > pos) == (g == 0);
    }
  }
  ASSERT_EQ(n, gold.size());
  double macro = 0;
  for (int c = 0; c < 3; ++c) {
    const double recall = static_cast<double>(hits[c]) / static_cast<double>(totals[c]);
    std::cout << kLabels[c] << " recall " << recall << "\n";
    macro += recall / 3;
  }
  const double polar_accuracy = static_cast<double>(polar_right) / static_cast<double>(polar);
  std::cout << "macro recall " << macro << ", neg/pos " << polar_accuracy << "\n";
  EXPECT_GE(macro, kMacroRecallFloor);
  EXPECT_GE(polar_accuracy, kPolarAccuracyFloor);
}

}  // namespace
}  // namespace sluice::testing
