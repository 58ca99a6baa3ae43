// The oneDNN-backed Linear against a naive loop: every row count around the
// chunk and tail granules, strided inputs and outputs, fused activations, and
// the opt-in bf16 mode within bf16's rounding.
#include "kernels/cpu/linear.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include "kernels/cpu/ops.h"

namespace sluice::cpu {
namespace {

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

double act(double x, Activation a) {
  switch (a) {
    case Activation::kGeluErf:
      return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case Activation::kTanh:
      return std::tanh(x);
    case Activation::kRelu:
      return x > 0 ? x : 0;
    default:
      return x;
  }
}

// y = act(x·Wᵀ + b) in double.
std::vector<double> naive(const std::vector<float>& x, int64_t ld_x, int64_t rows,
                          const std::vector<float>& w, const std::vector<float>& b, int64_t out,
                          int64_t in, Activation a) {
  std::vector<double> y(rows * out);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double acc = b.empty() ? 0 : b[o];
      for (int64_t k = 0; k < in; ++k) acc += double(x[r * ld_x + k]) * w[o * in + k];
      y[r * out + o] = act(acc, a);
    }
  return y;
}

TEST(Linear, MatchesNaiveForEveryRowCountAroundChunksAndTails) {
  const int64_t in = 72, out = 40;
  const auto w = random_vec(out * in, 1), b = random_vec(out, 2);
  Linear lin(w.data(), b.data(), out, in);
  for (int64_t rows : {1, 15, 16, 17, 100, 255, 256, 257, 600}) {
    const auto x = random_vec(rows * in, 3 + static_cast<uint32_t>(rows));
    std::vector<float> y(rows * out, -7.f);
    lin.run(x.data(), in, rows, y.data(), out);
    const auto want = naive(x, in, rows, w, b, out, in, Activation::kIdentity);
    for (size_t i = 0; i < y.size(); ++i)
      ASSERT_NEAR(y[i], want[i], 1e-4) << "rows=" << rows << " at " << i;
  }
}

TEST(Linear, HonoursStridesAndNeverWritesPastTheRows) {
  const int64_t in = 33, out = 17, rows = 21, ld_x = 40, ld_y = 20;
  const auto w = random_vec(out * in, 4);
  Linear lin(w.data(), nullptr, out, in);
  const auto x = random_vec(rows * ld_x, 5);
  std::vector<float> y(rows * ld_y + 8, -7.f);
  lin.run(x.data(), ld_x, rows, y.data(), ld_y);
  const auto want = naive(x, ld_x, rows, w, {}, out, in, Activation::kIdentity);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) ASSERT_NEAR(y[r * ld_y + o], want[r * out + o], 1e-4);
    for (int64_t o = out; o < ld_y && r * ld_y + o < static_cast<int64_t>(y.size()); ++o)
      ASSERT_EQ(y[r * ld_y + o], -7.f) << "gap column written";
  }
  for (size_t i = rows * ld_y; i < y.size(); ++i)
    ASSERT_EQ(y[i], -7.f) << "wrote past the last row";
}

TEST(Linear, RunsTailsInPlaceWithinTheAllocatedRows) {
  const int64_t in = 40, out = 24, rows = 37;  // tail of 37 rows → 48 padded
  const int64_t alloc = Linear::padded_rows(rows);
  ASSERT_EQ(alloc, 48);
  const auto w = random_vec(out * in, 12), b = random_vec(out, 13);
  Linear lin(w.data(), b.data(), out, in);
  auto x = random_vec(alloc * in, 14);
  std::vector<float> y(alloc * out + 16, -7.f);
  lin.run(x.data(), in, rows, y.data(), out, alloc);
  const auto want = naive(x, in, rows, w, b, out, in, Activation::kIdentity);
  for (int64_t i = 0; i < rows * out; ++i) ASSERT_NEAR(y[i], want[i], 1e-4);
  for (size_t i = alloc * out; i < y.size(); ++i)
    ASSERT_EQ(y[i], -7.f) << "wrote past the allocated rows";
}

TEST(Linear, FusesActivations) {
  const int64_t in = 64, out = 48, rows = 19;
  const auto w = random_vec(out * in, 6), b = random_vec(out, 7), x = random_vec(rows * in, 8);
  for (Activation a : {Activation::kGeluErf, Activation::kTanh, Activation::kRelu}) {
    Linear lin(w.data(), b.data(), out, in, a);
    std::vector<float> y(rows * out);
    lin.run(x.data(), in, rows, y.data(), out);
    const auto want = naive(x, in, rows, w, b, out, in, a);
    for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], want[i], 1e-4) << activation_name(a);
  }
}

TEST(Linear, Bf16StaysWithinBfloat16Rounding) {
  if (!bf16_supported()) GTEST_SKIP() << "no AMX / AVX512-BF16";
  const int64_t in = 256, out = 96;
  const auto w = random_vec(out * in, 9), b = random_vec(out, 10);
  Linear lin(w.data(), b.data(), out, in, Activation::kIdentity, GemmPrecision::kBF16);
  for (int64_t rows : {1, 17, 300}) {
    const auto x = random_vec(rows * in, 11);
    std::vector<float> y(rows * out);
    lin.run(x.data(), in, rows, y.data(), out);
    const auto want = naive(x, in, rows, w, b, out, in, Activation::kIdentity);
    // Each product x·w carries two roundings to 8 significant bits (relative
    // error up to 2^-8 together), random in sign: bound each output's error
    // by 6 standard deviations of that sum, sqrt(Σ (x_k·w_k)²) · 2^-8.
    double worst = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double ss = 0;
        for (int64_t k = 0; k < in; ++k) ss += std::pow(double(x[r * in + k]) * w[o * in + k], 2);
        const double err = std::fabs(y[r * out + o] - want[r * out + o]);
        ASSERT_LE(err, 6 * std::sqrt(ss) / 256) << "rows=" << rows;
        worst = std::max(worst, err);
      }
    EXPECT_GT(worst, 1e-4) << "suspiciously exact: is bf16 really in use?";
  }
}

TEST(Linear, ToBf16RoundsToNearestEven) {
  const std::vector<float> x = {1.0f,
                                -2.5f,
                                1.00390625f /* 1 + 2^-8: tie -> even (1.0) */,
                                1.01171875f /* 1 + 3·2^-8: tie -> 1 + 2^-6 */,
                                3.14159265f,
                                0.f,
                                1e-30f,
                                65504.f,
                                -0.1f,
                                7.f,
                                8.f,
                                9.f,
                                10.f,
                                11.f,
                                12.f,
                                13.f,
                                14.f};
  std::vector<uint16_t> got(x.size());
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (isa > detected_isa()) continue;
    const Isa saved = active_isa();
    set_isa(isa);
    to_bf16(x.data(), static_cast<int64_t>(x.size()), got.data());
    set_isa(saved);
    for (size_t i = 0; i < x.size(); ++i) {
      uint32_t bits;
      std::memcpy(&bits, &x[i], 4);
      const uint32_t lsb = (bits >> 16) & 1;
      EXPECT_EQ(got[i], static_cast<uint16_t>((bits + 0x7fff + lsb) >> 16))
          << isa_name(isa) << " " << x[i];
    }
    EXPECT_EQ(got[0], 0x3f80);
    EXPECT_EQ(got[2], 0x3f80);
    EXPECT_EQ(got[3], 0x3f82);
  }
}

}  // namespace
}  // namespace sluice::cpu
