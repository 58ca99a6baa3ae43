// CUDA kernels executed on the CPU through host_emulation.h (no GPU needed):
// the tensor-core attention kernel's tiling, fragment addressing, masking and
// online softmax, the simple attention kernel, every form of the LayerNorm
// and of the bias + activation kernels, the pooling, classifier output,
// softmax and sigmoid kernels (every kernel of a forward pass), against the
// CPU backend's ops (or a double-precision loop) on the same
// fp16/bf16-rounded inputs; padding columns and a guard row past the end
// must come back untouched. Runs wherever the CUDA toolkit's
// headers are (ctest label unit); the device tests in tests/gpu repeat the
// comparison on a real GPU.
#include "kernels/cuda/check/host_emulation.h"
// (the emulation must precede the kernel headers)
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <vector>

#include "kernels/cpu/ops.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cuda/attention_simple.cuh"
#include "kernels/cuda/attention_tc.cuh"
#include "kernels/cuda/bias_activation_kernels.cuh"
#include "kernels/cuda/classifier_out_kernels.cuh"
#include "kernels/cuda/layernorm_kernels.cuh"
#include "kernels/cuda/pooling_kernels.cuh"
#include "kernels/cuda/softmax_kernels.cuh"

namespace sluice::cuda {
namespace {

template <class T>
T to_t(float v);
template <>
__half to_t<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__nv_bfloat16 to_t<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

struct Case {
  int heads, head_dim;
  std::vector<int> lengths;
  bool first_only;
  bool with_bias;
};

template <class T>
struct Inputs {
  std::vector<T> qkv;          // device-format values
  std::vector<float> qkv_f32;  // the same values as fp32, plus bias (the CPU reference's input)
  std::vector<float> bias;
  std::vector<int32_t> cu{0};
  int max_len = 0, tokens = 0, d = 0, ld = 0;
};

template <class T>
Inputs<T> make_inputs(const Case& c, uint32_t seed) {
  Inputs<T> in;
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0.f, 1.f), nb(0.f, 0.1f);
  for (int l : c.lengths) {
    in.cu.push_back(in.cu.back() + l);
    in.max_len = std::max(in.max_len, l);
  }
  in.tokens = in.cu.back();
  in.d = c.heads * c.head_dim;
  in.ld = 3 * in.d + 8;  // padded rows, as a strided view would be
  if (c.with_bias)
    for (int i = 0; i < 3 * in.d; ++i) in.bias.push_back(nb(g));
  in.qkv.resize(static_cast<size_t>(in.tokens) * in.ld);
  in.qkv_f32.resize(in.qkv.size());
  for (size_t i = 0; i < in.qkv.size(); ++i) {
    in.qkv[i] = to_t<T>(n(g));
    const int col = static_cast<int>(i % in.ld);
    in.qkv_f32[i] = nvcuda::wmma::emu_to_float(in.qkv[i]) +
                    (c.with_bias && col < 3 * in.d ? in.bias[col] : 0.f);
  }
  return in;
}

template <class T>
std::vector<float> cpu_reference(const Case& c, const Inputs<T>& in, int ld_out) {
  const int seqs = static_cast<int>(in.cu.size()) - 1;
  std::vector<float> out(static_cast<size_t>(c.first_only ? seqs : in.tokens) * ld_out, NAN);
  cpu::set_thread_count(1);
  cpu::attention(in.qkv_f32.data(), in.ld, in.cu.data(), seqs, c.heads, c.head_dim,
                 1.f / std::sqrt(static_cast<float>(c.head_dim)), c.first_only, out.data(), ld_out);
  return out;
}

template <class T>
void expect_matches(const std::vector<T>& got, const std::vector<float>& want, int d, int ld_out,
                    double rel_tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const float g = nvcuda::wmma::emu_to_float(got[i]);
    if (static_cast<int>(i % ld_out) >= d) {
      ASSERT_TRUE(std::isnan(g)) << what << ": padding column written at " << i;
      continue;
    }
    ASSERT_TRUE(std::isfinite(g)) << what << ": non-finite (unwritten?) output at row "
                                  << i / ld_out << ", column " << i % ld_out;
    num += (g - want[i]) * (g - want[i]);
    den += want[i] * want[i];
  }
  EXPECT_LT(std::sqrt(num / den), rel_tol) << what;
}

template <class T, int DH>
void run_tensor_core_case(const Case& c, uint32_t seed) {
  ASSERT_EQ(c.head_dim, DH);
  using L = TcLayout<T, DH>;
  const Inputs<T> in = make_inputs<T>(c, seed);
  const int seqs = static_cast<int>(in.cu.size()) - 1;
  const int ld_out = in.d + 8;
  std::vector<T> out(static_cast<size_t>(c.first_only ? seqs : in.tokens) * ld_out, to_t<T>(NAN));
  const int qtiles = c.first_only ? 1 : (in.max_len + L::kBQ - 1) / L::kBQ;
  emu::launch(dim3(seqs, c.heads, qtiles), dim3(L::kThreads), L::kTotal, [&] {
    attention_tc_kernel<T, DH>(in.qkv.data(), in.ld, c.with_bias ? in.bias.data() : nullptr,
                               in.cu.data(), c.heads, 1.f / std::sqrt(static_cast<float>(DH)),
                               c.first_only ? 1 : 0, out.data(), ld_out);
  });
  const double tol = std::is_same_v<T, __half> ? 4e-3 : 3e-2;
  expect_matches(
      out, cpu_reference(c, in, ld_out), in.d, ld_out, tol,
      "tensor-core kernel, head_dim " + std::to_string(DH) + (c.first_only ? ", first only" : ""));
}

template <class T>
void run_simple_case(const Case& c, uint32_t seed) {
  const Inputs<T> in = make_inputs<T>(c, seed);
  const int seqs = static_cast<int>(in.cu.size()) - 1;
  const int ld_out = in.d + 8;
  std::vector<T> out(static_cast<size_t>(c.first_only ? seqs : in.tokens) * ld_out, to_t<T>(NAN));
  const int qblocks = c.first_only ? 1 : (in.max_len + kSimpleWarps - 1) / kSimpleWarps;
  emu::launch(dim3(seqs, c.heads, qblocks), dim3(32 * kSimpleWarps), 0, [&] {
    attention_simple_kernel<T>(in.qkv.data(), in.ld, c.with_bias ? in.bias.data() : nullptr,
                               in.cu.data(), c.heads, c.head_dim,
                               1.f / std::sqrt(static_cast<float>(c.head_dim)),
                               c.first_only ? 1 : 0, out.data(), ld_out);
  });
  const double tol = std::is_same_v<T, __half> ? 4e-3 : 3e-2;
  expect_matches(out, cpu_reference(c, in, ld_out), in.d, ld_out, tol,
                 "simple kernel, head_dim " + std::to_string(c.head_dim) +
                     (c.first_only ? ", first only" : ""));
}

// Lengths around the 64-row tiles: 1, a partial tile, exactly one, one more, several.
const std::vector<int> kLengths = {1, 17, 64, 65, 130};

TEST(EmulatedAttention, TensorCoreKernelMatchesCpuFp16) {
  for (bool first : {false, true}) {
    run_tensor_core_case<__half, 64>({2, 64, kLengths, first, true}, 1);
    run_tensor_core_case<__half, 16>({3, 16, {5, 64, 129}, first, false}, 2);
  }
}

TEST(EmulatedAttention, TensorCoreKernelMatchesCpuBf16) {
  for (bool first : {false, true})
    run_tensor_core_case<__nv_bfloat16, 32>({2, 32, kLengths, first, true}, 3);
}

TEST(EmulatedAttention, SimpleKernelMatchesCpu) {
  for (bool first : {false, true}) {
    run_simple_case<__half>({2, 24, {1, 9, 33}, first, true}, 4);
    run_simple_case<__nv_bfloat16>({1, 64, {3, 70}, first, false}, 5);
    run_simple_case<__half>({1, 200, {12, 2}, first, true}, 6);
  }
}

template <class T>
std::vector<T> to_device_format(const std::vector<float>& v) {
  std::vector<T> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = to_t<T>(v[i]);
  return out;
}
template <class T>
std::vector<float> to_float(const std::vector<T>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = nvcuda::wmma::emu_to_float(v[i]);
  return out;
}
std::vector<float> normal(std::mt19937& g, size_t n, float stddev, float mean = 0.f) {
  std::normal_distribution<float> d(mean, stddev);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

void expect_rows_close(const std::vector<float>& got, const std::vector<float>& want, int64_t rows,
                       int64_t cols, int64_t ld, double abs_tol, const std::string& what) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const float g = got[r * ld + c], w = want[r * ld + c];
      ASSERT_TRUE(std::isfinite(g)) << what << ": row " << r << ", column " << c << " not written";
      ASSERT_NEAR(g, w, abs_tol) << what << ": row " << r << ", column " << c;
    }
}

enum class LnForm { kGeneral, kBlockVec8, kWarp };
const char* ln_form_name(LnForm f) {
  return f == LnForm::kGeneral ? "general" : f == LnForm::kBlockVec8 ? "block vec8" : "warp";
}

template <class T>
void run_add_layernorm(int64_t cols, int64_t ld, LnForm form, uint32_t seed, int64_t rows = 5) {
  std::mt19937 g(seed);
  // Rounded inputs; out aliases the residual, as in the encoder.
  auto x = to_device_format<T>(normal(g, rows * ld, 2.f));
  auto res = to_device_format<T>(normal(g, rows * ld, 1.f));
  const auto bias = normal(g, cols, 0.1f), gamma = normal(g, cols, 0.1f, 1.f),
             beta = normal(g, cols, 0.1f);
  auto want = to_float(res);
  const auto xf = to_float(x), rf = to_float(res);
  cpu::add_layernorm(xf.data(), ld, bias.data(), rf.data(), ld, gamma.data(), beta.data(), 1e-5f,
                     rows, cols, want.data(), ld);
  const int c = static_cast<int>(cols);
  if (form == LnForm::kWarp) {
    ASSERT_TRUE(layernorm_warp_applies(cols));
    with_layernorm_warp_groups(cols, [&](auto groups) {
      emu::launch(dim3(layernorm_warp_blocks(rows)), dim3(32 * kLayernormWarpRows), 0, [&] {
        add_layernorm_warp_kernel<T, decltype(groups)::value>(x.data(), ld, bias.data(), res.data(),
                                                              ld, gamma.data(), beta.data(), 1e-5f,
                                                              c, rows, res.data(), ld);
      });
    });
  } else if (form == LnForm::kBlockVec8) {
    emu::launch(dim3(rows), dim3(layernorm_vec8_threads(cols)), kLayernormVec8SmemBytes, [&] {
      add_layernorm_vec8_kernel<T>(x.data(), ld, bias.data(), res.data(), ld, gamma.data(),
                                   beta.data(), 1e-5f, c, res.data(), ld);
    });
  } else {
    emu::launch(dim3(rows), dim3(layernorm_threads(cols)), layernorm_smem_bytes(cols), [&] {
      add_layernorm_kernel<T>(x.data(), ld, bias.data(), res.data(), ld, gamma.data(), beta.data(),
                              1e-5f, c, res.data(), ld);
    });
  }
  const auto got = to_float(res);
  expect_rows_close(got, want, rows, cols, ld, std::is_same_v<T, __half> ? 1e-2 : 6e-2,
                    std::string(ln_form_name(form)) + " add_layernorm, cols " +
                        std::to_string(cols) + ", rows " + std::to_string(rows));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t cc = cols; cc < ld; ++cc)
      ASSERT_EQ(got[r * ld + cc], rf[r * ld + cc]) << "padding changed";
}

template <class T>
void run_embedding_layernorm(int64_t hidden, LnForm form, uint32_t seed) {
  std::mt19937 g(seed);
  const int64_t vocab = 11, positions = 7, tokens = 6;
  const auto word = to_device_format<T>(normal(g, vocab * hidden, 1.f));
  const auto pos = to_device_format<T>(normal(g, positions * hidden, 0.5f));
  const auto type = normal(g, hidden, 0.5f), gamma = normal(g, hidden, 0.1f, 1.f),
             beta = normal(g, hidden, 0.1f);
  const std::vector<int32_t> ids = {3, 0, 10, 3, 7, 1}, pids = {0, 1, 2, 6, 4, 0};
  std::vector<float> want(tokens * hidden);
  const auto wf = to_float(word), pf = to_float(pos);
  cpu::embedding_layernorm(ids.data(), pids.data(), tokens, wf.data(), pf.data(), type.data(),
                           gamma.data(), beta.data(), 1e-12f, hidden, want.data());
  // One guard row past the end: no form may write beyond the last token.
  std::vector<T> out((tokens + 1) * hidden, to_t<T>(NAN));
  const int h = static_cast<int>(hidden);
  if (form == LnForm::kWarp) {
    ASSERT_TRUE(layernorm_warp_applies(hidden));
    with_layernorm_warp_groups(hidden, [&](auto groups) {
      emu::launch(dim3(layernorm_warp_blocks(tokens)), dim3(32 * kLayernormWarpRows), 0, [&] {
        embedding_layernorm_warp_kernel<T, decltype(groups)::value>(
            ids.data(), pids.data(), word.data(), pos.data(), type.data(), gamma.data(),
            beta.data(), 1e-12f, h, tokens, out.data());
      });
    });
  } else if (form == LnForm::kBlockVec8) {
    emu::launch(dim3(tokens), dim3(layernorm_vec8_threads(hidden)), kLayernormVec8SmemBytes, [&] {
      embedding_layernorm_vec8_kernel<T>(ids.data(), pids.data(), word.data(), pos.data(),
                                         type.data(), gamma.data(), beta.data(), 1e-12f, h,
                                         out.data());
    });
  } else {
    emu::launch(dim3(tokens), dim3(layernorm_threads(hidden)), layernorm_smem_bytes(hidden), [&] {
      embedding_layernorm_kernel<T>(ids.data(), pids.data(), word.data(), pos.data(), type.data(),
                                    gamma.data(), beta.data(), 1e-12f, h, out.data());
    });
  }
  auto got = to_float(out);
  for (int64_t c = 0; c < hidden; ++c)
    ASSERT_TRUE(std::isnan(got[tokens * hidden + c])) << "guard row written at column " << c;
  got.resize(tokens * hidden);
  expect_rows_close(
      got, want, tokens, hidden, hidden, std::is_same_v<T, __half> ? 1e-2 : 6e-2,
      std::string(ln_form_name(form)) + " embedding_layernorm, hidden " + std::to_string(hidden));
}

TEST(EmulatedLayerNorm, EveryFormMatchesCpu) {
  run_add_layernorm<__half>(768, 776, LnForm::kBlockVec8, 7);
  run_add_layernorm<__nv_bfloat16>(64, 64, LnForm::kBlockVec8, 8);
  run_add_layernorm<__half>(100, 104, LnForm::kGeneral, 9);
  run_add_layernorm<__nv_bfloat16>(300, 300, LnForm::kGeneral, 10);
  run_embedding_layernorm<__half>(384, LnForm::kBlockVec8, 11);
  run_embedding_layernorm<__nv_bfloat16>(64, LnForm::kBlockVec8, 12);
  run_embedding_layernorm<__half>(100, LnForm::kGeneral, 13);
}

// The warp-per-row form at each of its group counts (1-4 groups of eight
// columns per lane), with rows that leave the last block's warps partly
// without a row, and widths that leave lanes without columns.
TEST(EmulatedLayerNorm, WarpFormMatchesCpuAtEveryWidth) {
  run_add_layernorm<__half>(768, 776, LnForm::kWarp, 21, 6);         // 3 groups, 2 rows in block 2
  run_add_layernorm<__nv_bfloat16>(128, 136, LnForm::kWarp, 22, 5);  // 1 group, 16 lanes idle
  run_add_layernorm<__half>(8, 8, LnForm::kWarp, 23, 3);             // one lane
  run_add_layernorm<__nv_bfloat16>(1024, 1024, LnForm::kWarp, 24, 4);  // 4 groups, every lane
  run_add_layernorm<__half>(264, 272, LnForm::kWarp, 25, 9);  // 2 groups, 1 lane in the 2nd
  run_embedding_layernorm<__half>(384, LnForm::kWarp, 26);
  run_embedding_layernorm<__nv_bfloat16>(128, LnForm::kWarp, 27);
  run_embedding_layernorm<__half>(1000, LnForm::kWarp, 28);
  EXPECT_FALSE(layernorm_warp_applies(1032));
  EXPECT_FALSE(layernorm_warp_applies(100));
}

// The raw bits of a value, to check that padding was left exactly as it was
// (NaN sentinels compare unequal to themselves).
template <class T>
auto bits(T v) {
  std::conditional_t<sizeof(T) == 2, uint16_t, uint32_t> b;
  static_assert(sizeof(b) == sizeof(T));
  std::memcpy(&b, &v, sizeof(T));
  return b;
}

// |got - want| <= abs_tol + rel_tol * |want| for every (r, c < cols) of rows
// with stride ld; every other element of `got` (the padding columns and the
// rows past `rows`) bit-equal to `before`.
template <class T>
void expect_rows_near_and_padding_kept(const std::vector<T>& got, const std::vector<float>& want,
                                       const std::vector<T>& before, int64_t rows, int64_t cols,
                                       int64_t ld, double abs_tol, double rel_tol,
                                       const std::string& what) {
  ASSERT_EQ(got.size(), before.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const int64_t r = static_cast<int64_t>(i) / ld, c = static_cast<int64_t>(i) % ld;
    if (r >= rows || c >= cols) {
      ASSERT_EQ(bits(got[i]), bits(before[i]))
          << what << ": row " << r << ", column " << c << " is padding, but was written";
      continue;
    }
    const float g = nvcuda::wmma::emu_to_float(got[i]), w = want[i];
    ASSERT_TRUE(std::isfinite(g)) << what << ": row " << r << ", column " << c << " is " << g;
    ASSERT_NEAR(g, w, abs_tol + rel_tol * std::fabs(w))
        << what << ": row " << r << ", column " << c;
  }
}

// Sets columns [cols, ld) of every row, and every row from `rows` on, to NaN.
template <class T>
void poison_padding(std::vector<T>& v, int64_t rows, int64_t cols, int64_t ld) {
  T nan;
  if constexpr (std::is_same_v<T, float>) {
    nan = NAN;
  } else {
    nan = to_t<T>(NAN);
  }
  for (size_t i = 0; i < v.size(); ++i)
    if (static_cast<int64_t>(i) / ld >= rows || static_cast<int64_t>(i) % ld >= cols) v[i] = nan;
}

// bias_activation on rows × cols of a [rows + 1, ld] buffer (the last row a
// guard), in the grid the launcher picks or, with one_block, a single block
// (a single row of blocks in the 16-byte form) whose threads go round their
// loop more than once.
template <class T>
void run_bias_activation(int64_t rows, int64_t cols, int64_t ld, bool vec8, engine::Activation act,
                         bool with_bias, bool one_block, uint32_t seed) {
  std::mt19937 g(seed);
  auto x = to_device_format<T>(normal(g, (rows + 1) * ld, 2.f));
  poison_padding(x, rows, cols, ld);
  const auto before = x;
  const auto bias_values = normal(g, cols, 0.5f);
  const float* bias = with_bias ? bias_values.data() : nullptr;
  auto want = to_float(x);
  cpu::bias_activation(want.data(), ld, rows, cols, bias, act);
  const std::string what = std::string(vec8 ? "vec8" : "general") + " bias_activation " +
                           engine::activation_name(act) + (with_bias ? " + bias" : "") + ", cols " +
                           std::to_string(cols) + ", ld " + std::to_string(ld) +
                           (one_block ? ", one block" : "");
  if (vec8) {
    ASSERT_TRUE(bias_activation_vec8_applies(x.data(), ld, cols)) << what;
    dim3 grid = bias_activation_vec8_grid(rows, cols);
    if (one_block) grid.y = 1;  // one block row: each thread walks every row
    with_activation(act, [&](auto a) {
      emu::launch(grid, dim3(kBiasActivationVec8Threads), 0, [&] {
        bias_activation_vec8_kernel<T, decltype(a)::value>(x.data(), ld, rows,
                                                           static_cast<int>(cols), bias);
      });
    });
  } else {
    const unsigned grid = one_block ? 1 : bias_activation_grid(rows * cols);
    emu::launch(dim3(grid), dim3(kBiasActivationThreads), 0, [&] {
      bias_activation_kernel<T>(x.data(), ld, rows, static_cast<int>(cols), bias, act);
    });
  }
  // One rounding to T of the fp32 result (2^-11 fp16, 2^-8 bf16, relative),
  // plus the CPU's polynomial erf/tanh/exp (~1e-6 absolute).
  const bool f16 = std::is_same_v<T, __half>;
  expect_rows_near_and_padding_kept(x, want, before, rows, cols, ld, 2e-5, f16 ? 1e-3 : 8e-3, what);
}

constexpr engine::Activation kActivations[] = {
    engine::Activation::kIdentity, engine::Activation::kGeluErf, engine::Activation::kGeluTanh,
    engine::Activation::kRelu, engine::Activation::kTanh};

template <class T>
void run_bias_activation_all(uint32_t seed) {
  for (const auto act : kActivations)
    for (bool with_bias : {true, false}) {
      // 40 groups of eight, padded rows.
      run_bias_activation<T>(7, 320, 328, true, act, with_bias, false, ++seed);
      run_bias_activation<T>(7, 320, 328, true, act, with_bias, true, ++seed);
      // 136 groups (> one block of 128 threads: two in x, the second mostly idle).
      run_bias_activation<T>(5, 1088, 1096, true, act, with_bias, true, ++seed);
      // ld == cols.
      run_bias_activation<T>(3, 64, 64, true, act, with_bias, false, ++seed);
      // 315 elements, cols not a multiple of 8, padded rows.
      run_bias_activation<T>(7, 45, 50, false, act, with_bias, false, ++seed);
      run_bias_activation<T>(7, 45, 50, false, act, with_bias, true, ++seed);
    }
}

TEST(EmulatedBiasActivation, BothFormsEveryActivationMatchCpu) {
  run_bias_activation_all<__half>(100);
  run_bias_activation_all<__nv_bfloat16>(200);
}

// Sequences of lengths 3, 0, 1, 5, 0: empty ones inside and at the end (whose
// cu[s] is the token count, one row past the last token).
const std::vector<int32_t> kPoolCu = {0, 3, 3, 4, 9, 9};

template <class T>
void run_pooling(int64_t cols, int64_t ld_x, int64_t ld_out, uint32_t seed) {
  std::mt19937 g(seed);
  const int64_t seqs = static_cast<int64_t>(kPoolCu.size()) - 1, tokens = kPoolCu.back();
  const std::string shape = ", cols " + std::to_string(cols) + ", ld_x " + std::to_string(ld_x) +
                            ", ld_out " + std::to_string(ld_out);
  // A guard row past the last token: a kernel reading it for the trailing
  // empty sequence would put finite values where zeros belong.
  auto x = to_device_format<T>(normal(g, (tokens + 1) * ld_x, 1.f));
  poison_padding(x, tokens + 1, cols, ld_x);  // reading a padding column gives NaN
  const auto xf = to_float(x);

  {  // gather_first_rows: exact copies (or zeros) of each sequence's first row
    std::vector<T> out((seqs + 1) * ld_out, to_t<T>(NAN));
    const auto before = out;
    emu::launch(dim3(seqs), dim3(kPoolingThreads), 0, [&] {
      gather_first_rows_kernel<T>(x.data(), ld_x, kPoolCu.data(), static_cast<int>(cols),
                                  out.data(), ld_out);
    });
    std::vector<float> want(out.size(), NAN);
    for (int64_t s = 0; s < seqs; ++s)
      for (int64_t c = 0; c < cols; ++c)
        want[s * ld_out + c] = kPoolCu[s + 1] > kPoolCu[s] ? xf[kPoolCu[s] * ld_x + c] : 0.f;
    expect_rows_near_and_padding_kept(out, want, before, seqs, cols, ld_out, 0, 0,
                                      "gather_first_rows" + shape);
  }
  {  // mean_pool: fp32 means, zeros for the empty sequences
    std::vector<float> out((seqs + 1) * ld_out, NAN);
    const auto before = out;
    emu::launch(dim3(seqs), dim3(kPoolingThreads), 0, [&] {
      mean_pool_kernel<T>(x.data(), ld_x, kPoolCu.data(), static_cast<int>(cols), out.data(),
                          ld_out);
    });
    std::vector<float> want(out.size(), NAN);
    cpu::set_thread_count(1);
    cpu::mean_pool(xf.data(), ld_x, kPoolCu.data(), seqs, cols, want.data(), ld_out);
    expect_rows_near_and_padding_kept(out, want, before, seqs, cols, ld_out, 1e-6, 1e-6,
                                      "mean_pool" + shape);
  }
  {  // rows_to_f32: exact widening
    std::vector<float> out((tokens + 1) * ld_out, NAN);
    const auto before = out;
    emu::launch(dim3(tokens), dim3(kPoolingThreads), 0, [&] {
      rows_to_f32_kernel<T>(x.data(), ld_x, static_cast<int>(cols), out.data(), ld_out);
    });
    std::vector<float> want(out.size(), NAN);
    for (int64_t r = 0; r < tokens; ++r)
      for (int64_t c = 0; c < cols; ++c) want[r * ld_out + c] = xf[r * ld_x + c];
    expect_rows_near_and_padding_kept(out, want, before, tokens, cols, ld_out, 0, 0,
                                      "rows_to_f32" + shape);
  }
}

TEST(EmulatedPooling, GatherMeanAndWidenMatchReference) {
  run_pooling<__half>(200, 208, 203, 300);  // more columns than the block's 128 threads
  run_pooling<__nv_bfloat16>(200, 200, 200, 301);
  run_pooling<__half>(40, 40, 44, 302);
  run_pooling<__nv_bfloat16>(7, 9, 8, 303);
}

template <class T>
void run_classifier_out(int64_t rows, int64_t labels, int64_t cols, int64_t ld_x, bool with_bias,
                        uint32_t seed) {
  std::mt19937 g(seed);
  auto x = to_device_format<T>(normal(g, rows * ld_x, 1.f));
  poison_padding(x, rows, cols, ld_x);  // reading a padding column gives NaN
  const auto xf = to_float(x);
  const auto w = normal(g, labels * cols, 0.1f), bias_values = normal(g, labels, 0.5f);
  const float* bias = with_bias ? bias_values.data() : nullptr;
  const int64_t items = rows * labels;
  // Contiguous [rows, labels] output and a guard of NaNs behind it.
  std::vector<float> out(items + 8, NAN);
  const auto before = out;
  emu::launch(dim3(ceil_div(items, kClassifierWarps)), dim3(32 * kClassifierWarps), 0, [&] {
    classifier_out_kernel<T>(x.data(), ld_x, w.data(), bias, rows, static_cast<int>(labels),
                             static_cast<int>(cols), out.data());
  });
  const std::string what = "classifier_out, " + std::to_string(rows) + " rows × " +
                           std::to_string(labels) + " labels, cols " + std::to_string(cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < labels; ++j) {
      double want = with_bias ? bias[j] : 0.0, magnitude = std::fabs(want);
      for (int64_t c = 0; c < cols; ++c) {
        want += static_cast<double>(xf[r * ld_x + c]) * w[j * cols + c];
        magnitude += std::fabs(static_cast<double>(xf[r * ld_x + c]) * w[j * cols + c]);
      }
      const float got = out[r * labels + j];
      ASSERT_TRUE(std::isfinite(got)) << what << ": row " << r << ", label " << j << " is " << got;
      // fp32 accumulation of exactly representable products.
      ASSERT_NEAR(got, want, 1e-6 * magnitude + 1e-7) << what << ": row " << r << ", label " << j;
    }
  for (size_t i = items; i < out.size(); ++i)
    ASSERT_EQ(bits(out[i]), bits(before[i])) << what << ": written past the end, at " << i;
}

TEST(EmulatedClassifierOut, WarpPerOutputMatchesDoubleLoop) {
  // 15 outputs: the last block's fourth warp has none and leaves at once.
  run_classifier_out<__half>(3, 5, 300, 304, true, 400);
  run_classifier_out<__nv_bfloat16>(3, 5, 300, 300, false, 401);
  // 2 outputs, two idle warps; cols < 32, so some lanes have no column.
  run_classifier_out<__half>(1, 2, 20, 24, false, 402);
  run_classifier_out<__nv_bfloat16>(2, 1, 33, 40, true, 403);
  run_classifier_out<__half>(4, 3, 64, 64, true, 404);  // 12: whole blocks
}

// Softmax and sigmoid of rows × cols of a [rows + 1, ld] fp32 buffer (the
// last row a guard), logits N(offset, stddev²). Softmax must not depend on
// the offset; a negative one catches a max that starts from 0 instead of
// -inf or that takes in scratch no warp wrote (the emulation's 0xCD garbage
// reads as -4.3e8 in a float).
void run_softmax_sigmoid(int64_t rows, int64_t cols, int64_t ld, float stddev, float offset,
                         uint32_t seed) {
  std::mt19937 g(seed);
  auto x = normal(g, (rows + 1) * ld, stddev, offset);
  poison_padding(x, rows, cols, ld);
  std::ostringstream shape;
  shape << ", cols " << cols << ", ld " << ld << ", logits N(" << offset << ", " << stddev << "²)";
  cpu::set_thread_count(1);
  {
    auto got = x, want = x;
    cpu::softmax(want.data(), ld, rows, cols);
    emu::launch(dim3(rows), dim3(kSoftmaxThreads), kSoftmaxSmemBytes,
                [&] { softmax_rows_kernel(got.data(), ld, static_cast<int>(cols)); });
    // expf against the CPU's polynomial exp: a few ulps.
    expect_rows_near_and_padding_kept(got, want, x, rows, cols, ld, 1e-7, 1e-5,
                                      "softmax_rows" + shape.str());
  }
  {
    auto got = x, want = x;
    cpu::sigmoid(want.data(), ld, rows, cols);
    emu::launch(dim3(rows), dim3(kSoftmaxThreads), 0,
                [&] { sigmoid_rows_kernel(got.data(), ld, static_cast<int>(cols)); });
    expect_rows_near_and_padding_kept(got, want, x, rows, cols, ld, 1e-7, 1e-5,
                                      "sigmoid_rows" + shape.str());
  }
}

TEST(EmulatedSoftmax, SoftmaxAndSigmoidMatchCpu) {
  run_softmax_sigmoid(4, 300, 303, 3.f, 0.f, 500);      // more columns than the 128 threads
  run_softmax_sigmoid(3, 300, 300, 40.f, 0.f, 501);     // exp would overflow without the max
  run_softmax_sigmoid(3, 5, 8, 2.f, 0.f, 502);          // fewer columns than a warp
  run_softmax_sigmoid(2, 128, 131, 1.f, -300.f, 503);   // exp(x - 0) underflows to 0
  run_softmax_sigmoid(2, 100, 104, 300.f, -1e9f, 505);  // logits below the scratch garbage
  run_softmax_sigmoid(5, 33, 33, 2.f, 0.f, 504);
}

}  // namespace
}  // namespace sluice::cuda
