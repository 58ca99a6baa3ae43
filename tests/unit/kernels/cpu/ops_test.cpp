// Each fused CPU kernel against a naive scalar loop written from the
// definition, on every SIMD path this machine supports, at sizes that hit the
// vector tails (1, 7, 17, 72, 100 columns...).
#include "kernels/cpu/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace sluice::cpu {
namespace {

std::vector<float> random_vec(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

void naive_layernorm(float* row, int64_t n, const float* g, const float* b, float eps) {
  double mean = 0, var = 0;
  for (int64_t i = 0; i < n; ++i) mean += row[i];
  mean /= n;
  for (int64_t i = 0; i < n; ++i) var += (row[i] - mean) * (row[i] - mean);
  var /= n;
  const double rstd = 1.0 / std::sqrt(var + eps);
  for (int64_t i = 0; i < n; ++i) row[i] = static_cast<float>((row[i] - mean) * rstd * g[i] + b[i]);
}

double naive_act(double x, Activation a) {
  switch (a) {
    case Activation::kGeluErf:
      return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case Activation::kGeluTanh:
      return 0.5 * x * (1 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case Activation::kRelu:
      return x > 0 ? x : 0;
    case Activation::kTanh:
      return std::tanh(x);
    case Activation::kIdentity:
      return x;
  }
  return x;
}

void expect_near_all(const std::vector<float>& got, const std::vector<float>& want, double tol,
                     const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::fabs(want[i]))) << what << " at " << i;
  }
}

class OpsTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (GetParam() > detected_isa()) GTEST_SKIP() << isa_name(GetParam()) << " not supported here";
    saved_ = active_isa();
    set_isa(GetParam());
    ASSERT_EQ(active_isa(), GetParam());
  }
  void TearDown() override { set_isa(saved_); }
  Isa saved_ = Isa::kScalar;
};

TEST_P(OpsTest, AddLayerNormMatchesNaiveWithBiasResidualAndTails) {
  for (int64_t cols : {1, 7, 16, 17, 72, 100, 768}) {
    const int64_t rows = 5, ld = cols + 3;  // strided rows
    auto x = random_vec(rows * ld, 1, 2.f), res = random_vec(rows * ld, 2),
         bias = random_vec(cols, 3);
    auto g = random_vec(cols, 4), b = random_vec(cols, 5);
    std::vector<float> want(rows * cols), got(rows * cols);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c)
        want[r * cols + c] = x[r * ld + c] + bias[c] + res[r * ld + c];
      naive_layernorm(&want[r * cols], cols, g.data(), b.data(), 1e-5f);
    }
    add_layernorm(x.data(), ld, bias.data(), res.data(), ld, g.data(), b.data(), 1e-5f, rows, cols,
                  got.data(), cols);
    expect_near_all(got, want, 2e-5, "cols=" + std::to_string(cols));
  }
}

TEST_P(OpsTest, AddLayerNormInPlaceOverResidual) {
  const int64_t rows = 3, cols = 40;
  auto x = random_vec(rows * cols, 6), res = random_vec(rows * cols, 7);
  auto g = random_vec(cols, 8), b = random_vec(cols, 9);
  std::vector<float> want(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) want[r * cols + c] = x[r * cols + c] + res[r * cols + c];
    naive_layernorm(&want[r * cols], cols, g.data(), b.data(), 1e-12f);
  }
  add_layernorm(x.data(), cols, nullptr, res.data(), cols, g.data(), b.data(), 1e-12f, rows, cols,
                res.data(), cols);
  expect_near_all(res, want, 2e-5, "in place");
}

TEST_P(OpsTest, EmbeddingLayerNormSumsTablesThenNormalises) {
  const int64_t hidden = 37, vocab = 11, positions = 9, tokens = 6;
  auto word = random_vec(vocab * hidden, 10), pos = random_vec(positions * hidden, 11);
  auto type = random_vec(hidden, 12), g = random_vec(hidden, 13), b = random_vec(hidden, 14);
  const std::vector<int32_t> ids = {3, 0, 10, 3, 7, 1}, pids = {0, 1, 2, 8, 4, 0};
  for (bool with_type : {true, false}) {
    std::vector<float> want(tokens * hidden), got(tokens * hidden);
    for (int64_t t = 0; t < tokens; ++t) {
      for (int64_t c = 0; c < hidden; ++c)
        want[t * hidden + c] =
            word[ids[t] * hidden + c] + pos[pids[t] * hidden + c] + (with_type ? type[c] : 0.f);
      naive_layernorm(&want[t * hidden], hidden, g.data(), b.data(), 1e-12f);
    }
    embedding_layernorm(ids.data(), pids.data(), tokens, word.data(), pos.data(),
                        with_type ? type.data() : nullptr, g.data(), b.data(), 1e-12f, hidden,
                        got.data());
    expect_near_all(got, want, 2e-5, with_type ? "with type" : "no type");
  }
}

TEST_P(OpsTest, BiasActivationMatchesLibmForEveryActivation) {
  for (Activation a : {Activation::kGeluErf, Activation::kGeluTanh, Activation::kRelu,
                       Activation::kTanh, Activation::kIdentity}) {
    for (int64_t cols : {1, 9, 64, 100}) {
      const int64_t rows = 4;
      auto x = random_vec(rows * cols, 20, 3.f), bias = random_vec(cols, 21);
      // Include the range ends where approximations break first.
      x[0] = -12.f;
      if (x.size() > 1) x[1] = 12.f;
      if (x.size() > 2) x[2] = 1e-4f;
      std::vector<float> want(x.size());
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
          want[r * cols + c] = static_cast<float>(naive_act(x[r * cols + c] + bias[c], a));
      bias_activation(x.data(), cols, rows, cols, bias.data(), a);
      // A&S erf is within 1.5e-7 absolute; the rest are within a few ulp.
      for (size_t i = 0; i < x.size(); ++i)
        ASSERT_NEAR(x[i], want[i], 1e-6 + 2e-6 * std::fabs(want[i]))
            << activation_name(a) << " cols=" << cols << " at " << i;
    }
  }
}

TEST_P(OpsTest, SoftmaxRowsSumToOneAndMatchNaive) {
  for (int64_t cols : {1, 3, 16, 33}) {
    const int64_t rows = 3;
    auto x = random_vec(rows * cols, 30, 4.f);
    std::vector<float> want(x.size());
    for (int64_t r = 0; r < rows; ++r) {
      double m = -INFINITY, s = 0;
      for (int64_t c = 0; c < cols; ++c) m = std::max<double>(m, x[r * cols + c]);
      for (int64_t c = 0; c < cols; ++c) s += std::exp(x[r * cols + c] - m);
      for (int64_t c = 0; c < cols; ++c)
        want[r * cols + c] = static_cast<float>(std::exp(x[r * cols + c] - m) / s);
    }
    softmax(x.data(), cols, rows, cols);
    expect_near_all(x, want, 1e-6, "softmax cols=" + std::to_string(cols));
  }
}

TEST_P(OpsTest, SigmoidMatchesNaive) {
  auto x = random_vec(50, 31, 5.f);
  std::vector<float> want(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    want[i] = static_cast<float>(1.0 / (1.0 + std::exp(-double(x[i]))));
  sigmoid(x.data(), 25, 2, 25);
  expect_near_all(x, want, 1e-6, "sigmoid");
}

// Naive attention over packed sequences, straight from the definition.
std::vector<float> naive_attention(const std::vector<float>& qkv, const std::vector<int32_t>& cu,
                                   int64_t heads, int64_t dh, bool first_only) {
  const int64_t d = heads * dh, ld = 3 * d, seqs = static_cast<int64_t>(cu.size()) - 1;
  std::vector<float> out((first_only ? seqs : cu.back()) * d);
  const double scale = 1.0 / std::sqrt(double(dh));
  for (int64_t s = 0; s < seqs; ++s) {
    const int64_t b = cu[s], len = cu[s + 1] - b;
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t i = 0; i < (first_only ? 1 : len); ++i) {
        std::vector<double> p(len);
        double m = -INFINITY, sum = 0;
        for (int64_t j = 0; j < len; ++j) {
          double dot = 0;
          for (int64_t c = 0; c < dh; ++c)
            dot += double(qkv[(b + i) * ld + h * dh + c]) * qkv[(b + j) * ld + d + h * dh + c];
          p[j] = dot * scale;
          m = std::max(m, p[j]);
        }
        for (auto& v : p) sum += (v = std::exp(v - m));
        const int64_t row = first_only ? s : b + i;
        for (int64_t c = 0; c < dh; ++c) {
          double acc = 0;
          for (int64_t j = 0; j < len; ++j)
            acc += p[j] / sum * qkv[(b + j) * ld + 2 * d + h * dh + c];
          out[row * d + h * dh + c] = static_cast<float>(acc);
        }
      }
    }
  }
  return out;
}

TEST_P(OpsTest, AttentionStaysWithinEachPackedSequence) {
  // Head sizes below, at and above the vector width; lengths 1..70 incl. tails.
  for (auto [heads, dh] : {std::pair<int64_t, int64_t>{3, 24}, {2, 64}, {4, 16}, {1, 7}, {2, 80}}) {
    const std::vector<int32_t> cu = {0, 1, 8, 25, 95, 97};
    const int64_t d = heads * dh;
    auto qkv = random_vec(cu.back() * 3 * d, 40);
    for (bool first_only : {false, true}) {
      const int64_t rows = first_only ? 5 : cu.back();
      std::vector<float> got(rows * d, -1.f);
      attention(qkv.data(), 3 * d, cu.data(), 5, heads, dh, 1.f / std::sqrt(float(dh)), first_only,
                got.data(), d);
      expect_near_all(got, naive_attention(qkv, cu, heads, dh, first_only), 1e-5,
                      "heads=" + std::to_string(heads) + " dh=" + std::to_string(dh) +
                          (first_only ? " first-only" : ""));
    }
  }
}

TEST_P(OpsTest, MeanPoolAveragesEachSequence) {
  const std::vector<int32_t> cu = {0, 2, 3, 10};
  const int64_t cols = 19;
  auto x = random_vec(10 * cols, 50);
  std::vector<float> got(3 * cols), want(3 * cols, 0.f);
  for (int s = 0; s < 3; ++s)
    for (int64_t c = 0; c < cols; ++c) {
      double acc = 0;
      for (int t = cu[s]; t < cu[s + 1]; ++t) acc += x[t * cols + c];
      want[s * cols + c] = static_cast<float>(acc / (cu[s + 1] - cu[s]));
    }
  mean_pool(x.data(), cols, cu.data(), 3, cols, got.data(), cols);
  expect_near_all(got, want, 1e-6, "mean");
}

TEST_P(OpsTest, ResultsDoNotDependOnThreadCount) {
  const std::vector<int32_t> cu = {0, 5, 40, 41, 77};
  const int64_t heads = 4, dh = 32, d = heads * dh;
  auto qkv = random_vec(cu.back() * 3 * d, 60);
  std::vector<float> one(cu.back() * d), two(cu.back() * d);
  set_thread_count(1);
  attention(qkv.data(), 3 * d, cu.data(), 4, heads, dh, 0.1f, false, one.data(), d);
  set_thread_count(2);
  attention(qkv.data(), 3 * d, cu.data(), 4, heads, dh, 0.1f, false, two.data(), d);
  set_thread_count(0);
  EXPECT_EQ(one, two);
}

INSTANTIATE_TEST_SUITE_P(AllIsas, OpsTest,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

}  // namespace
}  // namespace sluice::cpu
