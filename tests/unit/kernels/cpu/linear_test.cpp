// The oneDNN-backed Linear against a naive loop: every row count around the
// chunk and tail granules, strided inputs and outputs, fused activations, and
// the opt-in bf16 mode within bf16's rounding, and the opt-in int8 mode
// against the quantization it promises (and fp32 within its worst case).
#include "kernels/cpu/linear.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
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
  for (int64_t rows : {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 100, 255, 256, 257, 600}) {
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

// A call of a few rows computes the fewest rows its class allows (1, 2, 4 or
// 8), not 16: with 16 rows allocated in place, the rows past the class are
// never written. Before, every call under 16 rows computed 16 (a batch of
// one user scored 16 rows), writing padding rows up to the 16th.
TEST(Linear, AFewRowsComputeOnlyTheirClassNotSixteen) {
  const int64_t in = 64, out = 40, alloc = 16;
  const auto w = random_vec(out * in, 21), b = random_vec(out, 22);
  for (GemmPrecision p : {GemmPrecision::kF32, GemmPrecision::kInt8}) {
    Linear lin(w.data(), b.data(), out, in, Activation::kIdentity, p);
    for (const auto& [rows, computed] :
         std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {2, 2}, {3, 4}, {5, 8}, {8, 8}}) {
      auto x = random_vec(alloc * in, 23 + static_cast<uint32_t>(rows));
      std::vector<float> y(alloc * out, -7.f);
      lin.run(x.data(), in, rows, y.data(), out, alloc);
      const auto want = naive(x, in, rows, w, b, out, in, Activation::kIdentity);
      const double tol = p == GemmPrecision::kF32 ? 1e-4 : 0.3;  // int8: quantization error
      for (int64_t i = 0; i < rows * out; ++i)
        ASSERT_NEAR(y[i], want[i], tol) << "rows=" << rows << " at " << i;
      for (int64_t i = computed * out; i < alloc * out; ++i)
        ASSERT_EQ(y[i], -7.f) << "rows=" << rows << ": row " << i / out << " computed";
    }
  }
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

// int8 mode's arithmetic, in double: rows quantized with scale max|x|/127,
// columns of W with max|w|/qmax, integer dot products, then
// act(dot · sx · sw + b). Also returns, per output, the worst-case distance
// of that result from the fp32 product before the activation:
// Σ_k |x_k|·sw/2 + |w_k|·sx/2 + sx·sw/4 (each operand moves by at most half
// its step).
struct Int8Expect {
  std::vector<double> y, bound;
};
Int8Expect int8_expect(const std::vector<float>& x, int64_t ld_x, int64_t rows,
                       const std::vector<float>& w, const std::vector<float>& b, int64_t out,
                       int64_t in, Activation a) {
  const double qmax = int8_vnni() ? 127 : 63;
  std::vector<double> sw(out);
  std::vector<int> qw(out * in);
  for (int64_t o = 0; o < out; ++o) {
    float m = 0;
    for (int64_t k = 0; k < in; ++k) m = std::max(m, std::fabs(w[o * in + k]));
    const float inv = m > 0 ? static_cast<float>(qmax) / m : 0.f;
    sw[o] = m > 0 ? m / static_cast<float>(qmax) : 1.f;
    for (int64_t k = 0; k < in; ++k)
      qw[o * in + k] = static_cast<int>(std::nearbyint(w[o * in + k] * inv));
  }
  Int8Expect e{std::vector<double>(rows * out), std::vector<double>(rows * out)};
  std::vector<int> qx(in);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x.data() + r * ld_x;
    float m = 0;
    for (int64_t k = 0; k < in; ++k) m = std::max(m, std::fabs(xr[k]));
    const float inv = m > 0 ? 127.f / m : 0.f;
    const double sx = m > 0 ? m / 127.f : 1.f;
    for (int64_t k = 0; k < in; ++k) qx[k] = static_cast<int>(std::nearbyint(xr[k] * inv));
    for (int64_t o = 0; o < out; ++o) {
      int64_t dot = 0;
      double bound = 0;
      for (int64_t k = 0; k < in; ++k) {
        dot += int64_t(qx[k]) * qw[o * in + k];
        bound += std::fabs(xr[k]) * sw[o] / 2 + std::fabs(w[o * in + k]) * sx / 2 + sx * sw[o] / 4;
      }
      e.y[r * out + o] = act(double(dot) * sx * sw[o] + (b.empty() ? 0 : b[o]), a);
      e.bound[r * out + o] = bound;
    }
  }
  return e;
}

TEST(Linear, Int8ComputesItsDynamicQuantizationExactly) {
  const int64_t in = 72, out = 40;
  const auto w = random_vec(out * in, 21), b = random_vec(out, 22);
  Linear lin(w.data(), b.data(), out, in, Activation::kIdentity, GemmPrecision::kInt8);
  for (int64_t rows : {1, 15, 16, 17, 100, 255, 256, 257, 600}) {
    auto x = random_vec(rows * in, 23 + static_cast<uint32_t>(rows));
    if (rows > 1)
      for (int64_t k = 0; k < in; ++k) x[k] = 0.f;  // an all-zero row
    if (rows > 3) x[3 * in + 5] = 40.f;             // an outlier token: its own scale
    std::vector<float> y(rows * out, -7.f);
    lin.run(x.data(), in, rows, y.data(), out);
    const auto e = int8_expect(x, in, rows, w, b, out, in, Activation::kIdentity);
    const auto fp = naive(x, in, rows, w, b, out, in, Activation::kIdentity);
    double worst_fp = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      // Only float rounding separates us from the exact integer arithmetic.
      ASSERT_NEAR(y[i], e.y[i], 1e-5 * (1 + std::fabs(e.y[i]))) << "rows=" << rows << " at " << i;
      ASSERT_LE(std::fabs(y[i] - fp[i]), e.bound[i] + 1e-5) << "rows=" << rows << " at " << i;
      worst_fp = std::max(worst_fp, std::fabs(y[i] - fp[i]));
    }
    EXPECT_GT(worst_fp, 1e-4) << "suspiciously exact: is int8 really in use?";
  }
}

TEST(Linear, Int8HonoursStridesActivationsAndTails) {
  const int64_t in = 64, out = 48, rows = 37, ld_x = 70, ld_y = 50;
  const auto w = random_vec(out * in, 24), b = random_vec(out, 25);
  const auto x = random_vec(Linear::padded_rows(rows) * ld_x, 26);
  for (Activation a : {Activation::kGeluErf, Activation::kTanh, Activation::kRelu}) {
    Linear lin(w.data(), b.data(), out, in, a, GemmPrecision::kInt8);
    for (int64_t alloc : {int64_t{0}, Linear::padded_rows(rows)}) {
      std::vector<float> y(Linear::padded_rows(rows) * ld_y + 8, -7.f);
      lin.run(x.data(), ld_x, rows, y.data(), ld_y, alloc);
      const auto e = int8_expect(x, ld_x, rows, w, b, out, in, a);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t o = 0; o < out; ++o)
          ASSERT_NEAR(y[r * ld_y + o], e.y[r * out + o], 1e-4) << activation_name(a);
        for (int64_t o = out; o < ld_y; ++o)
          ASSERT_EQ(y[r * ld_y + o], -7.f) << "gap column written";
      }
      for (size_t i = rows * ld_y; i < y.size(); ++i)
        ASSERT_EQ(y[i], -7.f) << "wrote past the last row";
    }
  }
}

TEST(Linear, Int8CanLeaveItsRowScalesToTheCaller) {
  const int64_t in = 48, out = 32, rows = 300;  // two chunks
  const auto w = random_vec(out * in, 28), b = random_vec(out, 29), x = random_vec(rows * in, 30);
  Linear plain(w.data(), nullptr, out, in, Activation::kIdentity, GemmPrecision::kInt8);
  std::vector<float> want(rows * out), got(rows * out), scale(rows, -1.f);
  EXPECT_FALSE(plain.run(x.data(), in, rows, want.data(), out));
  ASSERT_TRUE(plain.run(x.data(), in, rows, got.data(), out, 0, scale.data()));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o)
      ASSERT_NEAR(got[r * out + o] * scale[r], want[r * out + o],
                  1e-5 * (1 + std::fabs(want[r * out + o])));
  // With a bias, or in fp32, there is nothing to defer.
  Linear biased(w.data(), b.data(), out, in, Activation::kIdentity, GemmPrecision::kInt8);
  Linear fp32(w.data(), nullptr, out, in);
  EXPECT_FALSE(biased.run(x.data(), in, rows, got.data(), out, 0, scale.data()));
  EXPECT_FALSE(fp32.run(x.data(), in, rows, got.data(), out, 0, scale.data()));
}

TEST(Linear, QuantizeRowsIsTheSameOnEveryIsa) {
  const int64_t rows = 9, cols = 77, ld = 80;
  auto x = random_vec(rows * ld, 27);
  for (int64_t c = 0; c < cols; ++c) x[2 * ld + c] = 0.f;
  x[4 * ld + 70] = -1e3f;  // saturates the rest of its row towards 0
  x[5 * ld + 3] = 127.f;   // step exactly 1: x rounds half to even
  x[5 * ld + 4] = 2.5f;
  x[5 * ld + 5] = -3.5f;
  std::vector<int8_t> want(rows * cols), got(rows * cols);
  std::vector<float> want_s(rows), got_s(rows);
  const Isa saved = active_isa();
  set_isa(Isa::kScalar);
  quantize_rows_s8(x.data(), ld, rows, cols, want.data(), cols, want_s.data());
  EXPECT_EQ(want_s[2], 1.f);
  EXPECT_EQ(want_s[5], 1.f);
  EXPECT_EQ(want[5 * cols + 3], 127);
  EXPECT_EQ(want[5 * cols + 4], 2);
  EXPECT_EQ(want[5 * cols + 5], -4);
  EXPECT_EQ(want[4 * cols + 70], -127);
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (isa > detected_isa()) continue;
    set_isa(isa);
    quantize_rows_s8(x.data(), ld, rows, cols, got.data(), cols, got_s.data());
    EXPECT_EQ(got, want) << isa_name(isa);
    EXPECT_EQ(got_s, want_s) << isa_name(isa);
  }
  set_isa(saved);
}

// int8 has no NaN: a row holding a NaN or an infinity must come out of the
// GEMM non-finite (a NaN scale), as it would in fp32, or the infer stage's
// non-finite check would pass finite logits made from NaN activations.
TEST(Linear, QuantizeRowsGivesANonFiniteRowANaNScaleOnEveryIsa) {
  const int64_t rows = 4, cols = 77;
  auto x = random_vec(rows * cols, 28);
  x[1 * cols + 5] = std::nanf("");
  x[2 * cols + 76] = std::numeric_limits<float>::infinity();  // in the tail of the widest vector
  x[3 * cols + 0] = -std::numeric_limits<float>::infinity();
  std::vector<int8_t> q(rows * cols);
  std::vector<float> s(rows);
  const Isa saved = active_isa();
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (isa > detected_isa()) continue;
    set_isa(isa);
    quantize_rows_s8(x.data(), cols, rows, cols, q.data(), cols, s.data());
    EXPECT_TRUE(std::isfinite(s[0]) && s[0] > 0.f) << isa_name(isa);
    for (int64_t r = 1; r < rows; ++r)
      EXPECT_TRUE(std::isnan(s[r])) << isa_name(isa) << " row " << r;
  }
  set_isa(saved);
  // Through the int8 GEMM: the rows with them are NaN, the others finite.
  const int64_t out = 24;
  auto w = random_vec(out * cols, 29);
  Linear lin(w.data(), nullptr, out, cols, Activation::kIdentity, GemmPrecision::kInt8);
  std::vector<float> y(rows * out);
  lin.run(x.data(), cols, rows, y.data(), out);
  for (int64_t o = 0; o < out; ++o) {
    EXPECT_TRUE(std::isfinite(y[o])) << o;
    for (int64_t r = 1; r < rows; ++r) EXPECT_TRUE(std::isnan(y[r * out + o])) << r << "," << o;
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
