// Every CUDA op against the CPU backend's op (or, where the CPU backend has
// none, a double-precision loop) on fresh random inputs, in fp16 and bf16,
// with per-op tolerances: ggml test-backend-ops style. The inputs the device
// stores in 16 bits are rounded first, so both sides compute on identical
// values and the tolerance covers only the device's output rounding and
// fp32 summation order. Outputs are poisoned (NaN) before each op, so an
// element left unwritten fails as non-finite. Skips without a usable GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/cpu/ops.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cuda/check/op_check.h"
#include "tests/gpu/gpu_test_support.h"

namespace sluice::cuda {

// gtest prints parameters in test listings (and ctest names): say "fp16", not bytes.
void PrintTo(DType dt, std::ostream* os) { *os << dtype_name(dt); }

namespace {

using engine::Activation;
using gpu_testing::close;
using gpu_testing::random_normal;
namespace oc = opcheck;

// Per-op tolerances, by dtype: relative L2 error, max abs error (outputs O(1)).
struct Tol {
  double rel, abs;
};
// LayerNorm-type outputs (|y| up to ~5): the output's own rounding dominates.
Tol norm_tol(DType dt) { return dt == DType::kF16 ? Tol{2e-3, 1e-2} : Tol{1.2e-2, 6e-2}; }
// Attention: Q, K, V (+bias) and P rounded to 16 bits inside the kernel too.
Tol attention_tol(DType dt) { return dt == DType::kF16 ? Tol{4e-3, 2e-2} : Tol{3e-2, 1.2e-1}; }
// GEMM outputs: fp32 accumulation, then rounding to 16 bits.
Tol gemm_tol(DType dt) { return dt == DType::kF16 ? Tol{2e-3, 1.5e-2} : Tol{1.2e-2, 8e-2}; }
// fp32 results from 16-bit inputs (mean pooling, classifier, softmax): summation order only.
constexpr Tol kF32Tol{1e-5, 1e-5};

class CudaOps : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    if (std::string why = oc::why_no_device(); !why.empty())
      GTEST_SKIP() << "no usable CUDA device: " << why;
    seed_ = gpu_testing::test_seed() + static_cast<uint32_t>(GetParam()) * 7919u;
    rng_.seed(seed_);
    RecordProperty("seed", static_cast<int>(seed_));
    cpu::set_thread_count(1);
  }
  DType dt() const { return GetParam(); }
  std::string trace() const {
    return std::string(dtype_name(dt())) + ", seed " + std::to_string(gpu_testing::test_seed()) +
           " (rerun with SLUICE_GPU_TEST_SEED=" + std::to_string(gpu_testing::test_seed()) + ")";
  }
  std::vector<float> rnd(size_t n, float stddev = 1.f) {
    return oc::round_to(dt(), random_normal(rng_, n, stddev));
  }
  std::vector<float> rnd_f32(size_t n, float stddev = 1.f) {
    return random_normal(rng_, n, stddev);
  }
  std::vector<float> gamma(size_t n) {
    auto g = random_normal(rng_, n, 0.1f);
    for (auto& x : g) x += 1.f;
    return g;
  }

  uint32_t seed_ = 0;
  std::mt19937 rng_;
};

std::string dtype_param_name(const ::testing::TestParamInfo<DType>& i) {
  return dtype_name(i.param);
}

TEST_P(CudaOps, EmbeddingLayerNormMatchesCpu) {
  SCOPED_TRACE(trace());
  // 100: the general path; 2048: the block-per-row vec8 path; the rest one warp per row.
  for (int64_t hidden : {64, 100, 384, 768, 1000, 2048}) {
    for (bool with_type : {true, false}) {
      const int64_t vocab = 97, positions = 40, tokens = 53;
      auto word = rnd(vocab * hidden), pos = rnd(positions * hidden, 0.5f);
      auto type = with_type ? rnd_f32(hidden, 0.5f) : std::vector<float>{};
      auto g = gamma(hidden), b = rnd_f32(hidden, 0.1f);
      std::vector<int32_t> ids(tokens), pids(tokens);
      std::uniform_int_distribution<int> id(0, vocab - 1), p(0, positions - 1);
      for (auto& x : ids) x = id(rng_);
      for (auto& x : pids) x = p(rng_);
      std::vector<float> want(tokens * hidden);
      cpu::embedding_layernorm(ids.data(), pids.data(), tokens, word.data(), pos.data(),
                               with_type ? type.data() : nullptr, g.data(), b.data(), 1e-12f,
                               hidden, want.data());
      const auto got =
          oc::embedding_layernorm(dt(), ids, pids, word, pos, type, g, b, 1e-12f, hidden);
      const Tol t = norm_tol(dt());
      EXPECT_TRUE(close(got, want, t.rel, t.abs))
          << "hidden " << hidden << (with_type ? ", with" : ", without") << " token-type row";
    }
  }
}

TEST_P(CudaOps, AddLayerNormMatchesCpuWithStridesAndAliasing) {
  SCOPED_TRACE(trace());
  // 1030: the general path; 2048: the block-per-row vec8 path; the rest one warp per row.
  for (int64_t cols : {64, 384, 768, 1030, 2048}) {
    for (auto alias : {oc::Alias::kNone, oc::Alias::kX, oc::Alias::kResidual}) {
      for (bool with_bias : {true, false}) {
        const int64_t rows = 37, ld = cols + 8;
        auto x = rnd(rows * ld, 2.f), res = rnd(rows * ld);
        auto bias = with_bias ? rnd_f32(cols, 0.1f) : std::vector<float>{};
        auto g = gamma(cols), b = rnd_f32(cols, 0.1f);
        // Reference over the full stride: padding columns must come back untouched.
        std::vector<float> want = alias == oc::Alias::kX ? x
                                  : alias == oc::Alias::kResidual
                                      ? res
                                      : std::vector<float>(rows * ld, NAN);
        cpu::add_layernorm(x.data(), ld, with_bias ? bias.data() : nullptr, res.data(), ld,
                           g.data(), b.data(), 1e-5f, rows, cols, want.data(), ld);
        auto got =
            oc::add_layernorm(dt(), x, ld, bias, res, ld, g, b, 1e-5f, rows, cols, ld, alias);
        ASSERT_EQ(got.size(), want.size());
        std::vector<float> got_rows, want_rows;
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t c = 0; c < ld; ++c) {
            const size_t i = static_cast<size_t>(r * ld + c);
            if (c < cols) {
              got_rows.push_back(got[i]);
              want_rows.push_back(want[i]);
            } else if (alias == oc::Alias::kNone) {
              ASSERT_TRUE(std::isnan(got[i]))
                  << "padding column " << c << " of row " << r << " was written";
            } else {
              ASSERT_EQ(got[i], want[i]) << "padding column " << c << " of row " << r << " changed";
            }
          }
        }
        const Tol t = norm_tol(dt());
        EXPECT_TRUE(close(got_rows, want_rows, t.rel, t.abs))
            << "cols " << cols << ", alias " << static_cast<int>(alias)
            << (with_bias ? ", bias" : ", no bias");
      }
    }
  }
  // No residual at all.
  const int64_t rows = 5, cols = 96;
  auto x = rnd(rows * cols), g = gamma(cols), b = rnd_f32(cols, 0.1f);
  std::vector<float> want(rows * cols);
  cpu::add_layernorm(x.data(), cols, nullptr, nullptr, cols, g.data(), b.data(), 1e-12f, rows, cols,
                     want.data(), cols);
  const Tol t = norm_tol(dt());
  EXPECT_TRUE(close(oc::add_layernorm(dt(), x, cols, {}, {}, cols, g, b, 1e-12f, rows, cols, cols,
                                      oc::Alias::kNone),
                    want, t.rel, t.abs))
      << "no residual";
}

TEST_P(CudaOps, BiasActivationMatchesCpuForEveryActivation) {
  SCOPED_TRACE(trace());
  for (Activation a : {Activation::kGeluErf, Activation::kGeluTanh, Activation::kRelu,
                       Activation::kTanh, Activation::kIdentity}) {
    // 3072 and 64: the 8-wide path; 100 and ld 3076: the scalar one.
    for (auto [cols, ld] :
         {std::pair<int64_t, int64_t>{3072, 3072}, {64, 72}, {100, 100}, {3072, 3076}}) {
      for (bool with_bias : {true, false}) {
        const int64_t rows = 29;
        auto x = rnd(rows * ld, 2.f);
        auto bias = with_bias ? rnd_f32(cols, 0.5f) : std::vector<float>{};
        std::vector<float> want = x;
        cpu::bias_activation(want.data(), ld, rows, cols, with_bias ? bias.data() : nullptr, a);
        const auto got = oc::bias_activation(dt(), x, ld, rows, cols, bias, a);
        const Tol t = norm_tol(dt());
        EXPECT_TRUE(close(got, want, t.rel, t.abs))
            << engine::activation_name(a) << ", cols " << cols << ", ld " << ld
            << (with_bias ? ", bias" : ", no bias");
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = cols; c < ld; ++c)
            ASSERT_EQ(got[r * ld + c], x[r * ld + c])
                << "padding column " << c << " of row " << r << " changed";
      }
    }
  }
}

struct AttentionCase {
  int64_t heads, head_dim;
  std::vector<int> lengths;
};

// CPU reference: Q, K, V with the bias added in fp32 to the rounded values.
std::vector<float> cpu_attention(const std::vector<float>& qkv, int64_t ld,
                                 const std::vector<float>& bias, const std::vector<int32_t>& cu,
                                 int64_t heads, int64_t dh, float scale, bool first_only,
                                 int64_t ld_out) {
  const int64_t tokens = cu.back(), seqs = static_cast<int64_t>(cu.size()) - 1;
  std::vector<float> in = qkv;
  if (!bias.empty())
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t c = 0; c < 3 * heads * dh; ++c) in[t * ld + c] += bias[c];
  std::vector<float> out((first_only ? seqs : tokens) * ld_out, NAN);
  cpu::attention(in.data(), ld, cu.data(), seqs, heads, dh, scale, first_only, out.data(), ld_out);
  return out;
}

TEST_P(CudaOps, AttentionMatchesCpuOverPackedVariableLengthSequences) {
  SCOPED_TRACE(trace());
  const std::vector<AttentionCase> cases = {
      {12, 64, {1, 17, 64, 65, 128, 3, 130, 200}},  // BERT-base heads; 1, 2, 3 and 4 key tiles
      {12, 32, {5, 63, 64, 1, 100}},                // MiniLM heads
      {4, 16, {2, 129, 40}},                        // tiny test models
      {2, 64, {512, 7}},                            // BERT's longest sequence
      {3, 48, {9, 70, 1}},                          // head_dim without tensor-core kernel
      {2, 8, {33, 4}},
      {2, 128, {50, 1, 66}},
  };
  for (const auto& c : cases) {
    std::vector<int32_t> cu{0};
    int64_t max_len = 0;
    for (int l : c.lengths) {
      cu.push_back(cu.back() + l);
      max_len = std::max<int64_t>(max_len, l);
    }
    const int64_t d = c.heads * c.head_dim, tokens = cu.back();
    const float scale = 1.f / std::sqrt(static_cast<float>(c.head_dim));
    for (int64_t ld_qkv : {3 * d, 3 * d + 8}) {
      auto qkv = rnd(tokens * ld_qkv);
      for (bool with_bias : {true, false}) {
        auto bias = with_bias ? rnd_f32(3 * d, 0.1f) : std::vector<float>{};
        for (bool first_only : {false, true}) {
          const int64_t ld_out = d + (first_only ? 0 : 8);
          const auto want =
              cpu_attention(qkv, ld_qkv, bias, cu, c.heads, c.head_dim, scale, first_only, ld_out);
          const bool tc_applies = c.head_dim == 16 || c.head_dim == 32 || c.head_dim == 64;
          for (AttentionKernel k :
               {AttentionKernel::kAuto, AttentionKernel::kTensorCore, AttentionKernel::kSimple}) {
            if (k == AttentionKernel::kTensorCore && !tc_applies) {
              EXPECT_THROW(oc::attention(dt(), qkv, ld_qkv, bias, cu, max_len, c.heads, c.head_dim,
                                         scale, first_only, ld_out, k),
                           std::invalid_argument);
              continue;
            }
            const auto got = oc::attention(dt(), qkv, ld_qkv, bias, cu, max_len, c.heads,
                                           c.head_dim, scale, first_only, ld_out, k);
            ASSERT_EQ(got.size(), want.size());
            std::vector<float> g, w;
            for (size_t r = 0; r < got.size() / ld_out; ++r) {
              for (int64_t col = 0; col < ld_out; ++col) {
                const float v = got[r * ld_out + col];
                if (col < d) {
                  g.push_back(v);
                  w.push_back(want[r * ld_out + col]);
                } else {
                  ASSERT_TRUE(std::isnan(v))
                      << "padding column " << col << " of row " << r << " was written";
                }
              }
            }
            const Tol t = attention_tol(dt());
            EXPECT_TRUE(close(g, w, t.rel, t.abs))
                << attention_kernel_name(k) << " kernel, heads " << c.heads << ", head_dim "
                << c.head_dim << ", ld_qkv " << ld_qkv << (with_bias ? ", bias" : ", no bias")
                << (first_only ? ", first token only" : ", every token");
          }
        }
      }
    }
  }
}

TEST_P(CudaOps, AttentionSkipsEmptySequencesAndKeepsThemApart) {
  SCOPED_TRACE(trace());
  // An empty sequence writes nothing; two sequences with identical tokens
  // get identical outputs whatever sits between them (no leak across).
  const int64_t heads = 4, dh = 64, d = heads * dh;
  const std::vector<int32_t> cu = {0, 20, 20, 45, 65};  // sequence 1 empty; 0 and 3 identical
  auto qkv = rnd(65 * 3 * d);
  for (int64_t t = 0; t < 20; ++t)
    for (int64_t c = 0; c < 3 * d; ++c) qkv[(45 + t) * 3 * d + c] = qkv[t * 3 * d + c];
  const float scale = 0.125f;
  for (AttentionKernel k : {AttentionKernel::kTensorCore, AttentionKernel::kSimple}) {
    const auto first = oc::attention(dt(), qkv, 3 * d, {}, cu, 25, heads, dh, scale, true, d, k);
    for (int64_t c = 0; c < d; ++c) {
      EXPECT_TRUE(std::isnan(first[1 * d + c]))
          << "empty sequence's row written, " << attention_kernel_name(k);
      EXPECT_EQ(first[0 * d + c], first[3 * d + c])
          << "column " << c << ", " << attention_kernel_name(k);
    }
    const auto all = oc::attention(dt(), qkv, 3 * d, {}, cu, 25, heads, dh, scale, false, d, k);
    for (int64_t t = 0; t < 20; ++t)
      for (int64_t c = 0; c < d; ++c)
        ASSERT_EQ(all[t * d + c], all[(45 + t) * d + c])
            << "token " << t << ", " << attention_kernel_name(k);
  }
}

TEST_P(CudaOps, LinearMatchesDoublePrecisionProduct) {
  SCOPED_TRACE(trace());
  struct Shape {
    int64_t m, n, k, ld_x;
  };
  for (const Shape& s :
       {Shape{1, 768, 768, 768}, Shape{37, 2304, 768, 776}, Shape{100, 3072, 768, 768},
        Shape{100, 768, 3072, 3072}, Shape{5, 3, 64, 64}, Shape{257, 384, 384, 384}}) {
    auto x = rnd(s.m * s.ld_x), w = rnd(s.n * s.k, 1.f / std::sqrt(static_cast<float>(s.k)));
    std::vector<float> want(s.m * s.n);
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t j = 0; j < s.n; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < s.k; ++p)
          acc += static_cast<double>(x[i * s.ld_x + p]) * w[j * s.k + p];
        want[i * s.n + j] = static_cast<float>(acc);
      }
    const auto got = oc::linear(dt(), x, s.ld_x, w, s.m, s.n, s.k, s.n);
    const Tol t = gemm_tol(dt());
    EXPECT_TRUE(close(got, want, t.rel, t.abs)) << "m " << s.m << ", n " << s.n << ", k " << s.k;
  }
}

TEST_P(CudaOps, GatherFirstRowsCopiesEachSequencesFirstTokenExactly) {
  SCOPED_TRACE(trace());
  const int64_t cols = 200, ld_x = 208, ld_out = 200;
  const std::vector<int32_t> cu = {0, 3, 4, 4, 30};  // one empty sequence
  auto x = rnd(30 * ld_x);
  const auto got = oc::gather_first_rows(dt(), x, ld_x, cu, cols, ld_out);
  for (size_t s = 0; s + 1 < cu.size(); ++s)
    for (int64_t c = 0; c < cols; ++c) {
      const float want = cu[s + 1] > cu[s] ? x[cu[s] * ld_x + c] : 0.f;
      ASSERT_EQ(got[s * ld_out + c], want) << "sequence " << s << ", column " << c;
    }
}

TEST_P(CudaOps, MeanPoolMatchesCpu) {
  SCOPED_TRACE(trace());
  const int64_t cols = 384;
  const std::vector<int32_t> cu = {0, 1, 40, 41, 169};
  auto x = rnd(169 * cols);
  std::vector<float> want((cu.size() - 1) * cols);
  cpu::mean_pool(x.data(), cols, cu.data(), static_cast<int64_t>(cu.size()) - 1, cols, want.data(),
                 cols);
  EXPECT_TRUE(close(oc::mean_pool(dt(), x, cols, cu, cols, cols), want, kF32Tol.rel, kF32Tol.abs));
}

TEST_P(CudaOps, RowsToF32WidensExactly) {
  SCOPED_TRACE(trace());
  const int64_t rows = 7, cols = 130, ld_x = 136, ld_out = 130;
  auto x = rnd(rows * ld_x);
  const auto got = oc::rows_to_f32(dt(), x, ld_x, rows, cols, ld_out);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      ASSERT_EQ(got[r * ld_out + c], x[r * ld_x + c]) << r << ", " << c;
}

TEST_P(CudaOps, ClassifierOutMatchesDoublePrecision) {
  SCOPED_TRACE(trace());
  for (int64_t labels : {1, 3, 7}) {
    const int64_t rows = 45, cols = 768, ld_x = 776;
    auto x = rnd(rows * ld_x), w = rnd_f32(labels * cols, 0.05f), b = rnd_f32(labels, 0.1f);
    std::vector<float> want(rows * labels);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < labels; ++j) {
        double acc = b[j];
        for (int64_t c = 0; c < cols; ++c)
          acc += static_cast<double>(x[r * ld_x + c]) * w[j * cols + c];
        want[r * labels + j] = static_cast<float>(acc);
      }
    EXPECT_TRUE(
        close(oc::classifier_out(dt(), x, ld_x, w, b, rows, labels, cols), want, kF32Tol.rel, 1e-4))
        << labels << " labels";
  }
}

TEST_P(CudaOps, SoftmaxAndSigmoidMatchCpu) {
  SCOPED_TRACE(trace());
  for (int64_t cols : {1, 3, 100, 1000}) {
    const int64_t rows = 9, ld = cols + 2;
    auto x = rnd_f32(rows * ld, 4.f);
    auto want = x;
    cpu::softmax(want.data(), ld, rows, cols);
    EXPECT_TRUE(close(oc::softmax_rows(x, ld, rows, cols), want, kF32Tol.rel, kF32Tol.abs))
        << "softmax, cols " << cols;
    want = x;
    cpu::sigmoid(want.data(), ld, rows, cols);
    EXPECT_TRUE(close(oc::sigmoid_rows(x, ld, rows, cols), want, kF32Tol.rel, kF32Tol.abs))
        << "sigmoid, cols " << cols;
  }
}

TEST_P(CudaOps, EntriesRefuseBadShapes) {
  EXPECT_THROW(oc::add_layernorm(dt(), rnd(8), 4, {}, {}, 4, gamma(8), rnd_f32(8), 1e-5f, 1, 8, 8,
                                 oc::Alias::kNone),
               std::invalid_argument);  // ld_x < cols
  EXPECT_THROW(oc::attention(dt(), rnd(3 * 64), 100, {}, {0, 1}, 1, 2, 64, 1.f, false, 128,
                             AttentionKernel::kAuto),
               std::invalid_argument);  // ld_qkv < 3 d
  EXPECT_THROW(oc::attention(dt(), rnd(3 * 600), 3 * 600, {}, {0, 1}, 1, 2, 300, 1.f, false, 600,
                             AttentionKernel::kSimple),
               std::invalid_argument);  // head_dim over 256
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaOps, ::testing::Values(DType::kF16, DType::kBF16),
                         dtype_param_name);

}  // namespace
}  // namespace sluice::cuda
