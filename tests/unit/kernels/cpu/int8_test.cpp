// The int8 GEMM mode (engine::Precision::kInt8) on the real tweet model and
// real tweets, against the same backend in fp32: logits close and labels
// kept. Registered three times in ctest: the CPU's own oneDNN ISA (AMX here),
// and ONEDNN_MAX_CPU_ISA=AVX512_CORE (no AMX, no VNNI: 7-bit weights) and
// =AVX2 (tests/unit/kernels/cpu/CMakeLists.txt).
//
// Tolerances, from the quantization: every encoder GEMM input row is rounded
// to 255 levels of its own max (relative step 1/127) and every weight column
// to 255 levels (127 without VNNI: qmax 63); an output's error is a sum of K
// such roundings, random in sign, so it grows like sqrt(K)·step·|x|·|w|, not
// K·step, and LayerNorm after each block keeps it from compounding. On this
// model (hidden 128, FFN 512, logits of magnitude ~1-4) on the first 3000
// TweetEval test tweets that measured max 0.015 / mean 0.0018 per logit with
// AMX and 8-bit weights, max 0.012 / mean 0.0020 with 7-bit weights
// (AVX512_CORE and AVX2 alike); 6 and 5 labels of 3000 changed, all where
// fp32's top two logits were within 0.1. Bounds: about 3x the worst
// measurement, max 0.05 and mean 0.006; a label may change only where fp32's
// top two logits are within 2 × 0.05 (the most two logits can move apart);
// at least 99 % of labels agree.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "kernels/cpu/linear.h"
#include "src/engine/backend_factory.h"
#include "src/engine/model.h"
#include "src/text/tokenizer.h"

namespace sluice::engine {
namespace {

namespace fs = std::filesystem;

constexpr double kMaxLogitDiff = 0.05;
constexpr double kMeanLogitDiff = 0.006;
constexpr double kMinLabelAgreement = 0.99;
constexpr size_t kMaxTweets = 3000;

// TweetEval test tweets when ../shared/data is there (the first kMaxTweets),
// else the repository's sample tweets (emoji, @user, URLs).
std::vector<std::string> read_tweets() {
  fs::path file = fs::path(SLUICE_SHARED_DATA) / "tweeteval-sentiment" / "test_text.txt";
  if (!fs::exists(file)) file = fs::path(SLUICE_FIXTURES) / "sentiment" / "sample_tweets.txt";
  std::vector<std::string> tweets;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line) && tweets.size() < kMaxTweets;)
    if (!line.empty()) tweets.push_back(line);
  std::cout << "[int8] " << tweets.size() << " tweets from " << file << '\n';
  return tweets;
}

std::vector<float> logits_of(const Model& model, Precision precision,
                             const std::vector<std::vector<int32_t>>& seqs) {
  auto backend = make_backend(model, BackendOptions{.device = "cpu",
                                                    .threads = 2,
                                                    .max_batch_tokens = 8192,
                                                    .max_batch_records = 256,
                                                    .precision = precision});
  const int64_t labels = model.config().num_labels;
  std::vector<float> out(seqs.size() * static_cast<size_t>(labels));
  for (size_t b = 0; b < seqs.size(); b += 256) {  // batches of 256 tweets, packed
    const size_t e = std::min(seqs.size(), b + 256);
    std::vector<int32_t> ids, cu{0};
    int32_t longest = 0;
    for (size_t i = b; i < e; ++i) {
      ids.insert(ids.end(), seqs[i].begin(), seqs[i].end());
      cu.push_back(static_cast<int32_t>(ids.size()));
      longest = std::max(longest, static_cast<int32_t>(seqs[i].size()));
    }
    const BatchResult r = backend->run(
        {ids, cu, longest},
        {std::span<float>(out).subspan(b * labels, (e - b) * static_cast<size_t>(labels)), {}});
    EXPECT_TRUE(r.ok) << r.error;
  }
  return out;
}

TEST(Int8Mode, TweetModelKeepsFp32LogitsAndLabelsOnRealTweets) {
  const fs::path dir = fs::path(SLUICE_SOURCE_DIR) / "models" / "sentiment-tweet-small";
  const Model model = Model::load(dir);
  const auto tokenizer = text::Tokenizer::load(dir);
  const auto tweets = read_tweets();
  ASSERT_GE(tweets.size(), 100u);
  text::Tokenizer::Workspace ws;
  std::vector<int32_t> buf(static_cast<size_t>(model.config().max_sequence_length()));
  text::EncodeOptions opt;
  opt.max_length = static_cast<int32_t>(buf.size());
  std::vector<std::vector<int32_t>> seqs;
  for (const auto& t : tweets) {
    const auto r = tokenizer->encode(t, buf, ws, opt);
    ASSERT_EQ(r.status, text::EncodeStatus::kOk) << t;
    seqs.emplace_back(buf.begin(), buf.begin() + r.length);
  }

  const auto fp32 = logits_of(model, Precision::kF32, seqs);
  const auto int8 = logits_of(model, Precision::kInt8, seqs);
  const size_t labels = static_cast<size_t>(model.config().num_labels);
  double worst = 0, sum = 0;
  size_t agree = 0, close_calls = 0;
  for (size_t r = 0; r < seqs.size(); ++r) {
    const float* a = fp32.data() + r * labels;
    const float* b = int8.data() + r * labels;
    for (size_t c = 0; c < labels; ++c) {
      const double d = std::fabs(double(a[c]) - b[c]);
      worst = std::max(worst, d);
      sum += d;
    }
    const size_t ta = std::max_element(a, a + labels) - a;
    const size_t tb = std::max_element(b, b + labels) - b;
    std::vector<float> sorted(a, a + labels);
    std::sort(sorted.rbegin(), sorted.rend());
    const bool clear = sorted[0] - sorted[1] > 2 * kMaxLogitDiff;
    agree += ta == tb;
    close_calls += !clear;
    if (clear) EXPECT_EQ(tb, ta) << "tweet " << r << " changed label: " << tweets[r];
  }
  const double mean = sum / static_cast<double>(fp32.size());
  const double agreement = static_cast<double>(agree) / static_cast<double>(seqs.size());
  std::cout << "[int8] " << cpu::gemm_library_description()
            << (cpu::int8_vnni() ? ", 8-bit weights" : ", 7-bit weights (no VNNI)")
            << ": max |int8 - fp32 logit| " << worst << ", mean " << mean << ", labels agree "
            << agreement * 100 << " % (" << seqs.size() - agree << " differ; " << close_calls
            << " fp32 close calls)\n";
  EXPECT_LE(worst, kMaxLogitDiff);
  EXPECT_LE(mean, kMeanLogitDiff);
  EXPECT_GT(worst, 1e-4) << "int8 gave fp32-exact logits; is it on?";
  EXPECT_GE(agreement, kMinLabelAgreement);
}

// precision auto resolves to int8 exactly where oneDNN has VNNI or AMX.
TEST(Int8Mode, AutoIsInt8WithVnniElseFp32) {
  EXPECT_EQ(effective_precision(Precision::kAuto),
            cpu::int8_vnni() ? Precision::kInt8 : Precision::kF32);
  EXPECT_EQ(effective_precision(Precision::kBF16), Precision::kBF16);
  Precision p = Precision::kF32;
  EXPECT_TRUE(parse_precision("int8", &p));
  EXPECT_EQ(p, Precision::kInt8);
  EXPECT_TRUE(parse_precision("auto", &p));
  EXPECT_EQ(p, Precision::kAuto);
  EXPECT_FALSE(parse_precision("fp16", &p));
  EXPECT_EQ(p, Precision::kAuto);
}

}  // namespace
}  // namespace sluice::engine
