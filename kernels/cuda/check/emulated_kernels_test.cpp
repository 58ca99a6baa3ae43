// CUDA kernels executed on the CPU through host_emulation.h (no GPU needed):
// the tensor-core attention kernel's tiling, fragment addressing, masking and
// online softmax, the simple attention kernel, and both forms of the
// LayerNorm kernels, against the CPU backend's ops on the same
// fp16/bf16-rounded inputs. Runs wherever the CUDA toolkit's
// headers are (ctest label unit); the device tests in tests/gpu repeat the
// comparison on a real GPU.
#include "kernels/cuda/check/host_emulation.h"
// (the emulation must precede the kernel headers)
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/ops.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cuda/attention_simple.cuh"
#include "kernels/cuda/attention_tc.cuh"
#include "kernels/cuda/layernorm_kernels.cuh"

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

template <class T>
void run_add_layernorm(int64_t cols, int64_t ld, bool vec8, uint32_t seed) {
  std::mt19937 g(seed);
  const int64_t rows = 5;
  // Rounded inputs; out aliases the residual, as in the encoder.
  auto x = to_device_format<T>(normal(g, rows * ld, 2.f));
  auto res = to_device_format<T>(normal(g, rows * ld, 1.f));
  const auto bias = normal(g, cols, 0.1f), gamma = normal(g, cols, 0.1f, 1.f),
             beta = normal(g, cols, 0.1f);
  auto want = to_float(res);
  const auto xf = to_float(x), rf = to_float(res);
  cpu::add_layernorm(xf.data(), ld, bias.data(), rf.data(), ld, gamma.data(), beta.data(), 1e-5f,
                     rows, cols, want.data(), ld);
  if (vec8) {
    emu::launch(dim3(rows), dim3(layernorm_vec8_threads(cols)), kLayernormVec8SmemBytes, [&] {
      add_layernorm_vec8_kernel<T>(x.data(), ld, bias.data(), res.data(), ld, gamma.data(),
                                   beta.data(), 1e-5f, static_cast<int>(cols), res.data(), ld);
    });
  } else {
    emu::launch(dim3(rows), dim3(layernorm_threads(cols)), layernorm_smem_bytes(cols), [&] {
      add_layernorm_kernel<T>(x.data(), ld, bias.data(), res.data(), ld, gamma.data(), beta.data(),
                              1e-5f, static_cast<int>(cols), res.data(), ld);
    });
  }
  const auto got = to_float(res);
  expect_rows_close(
      got, want, rows, cols, ld, std::is_same_v<T, __half> ? 1e-2 : 6e-2,
      std::string(vec8 ? "vec8" : "general") + " add_layernorm, cols " + std::to_string(cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = cols; c < ld; ++c)
      ASSERT_EQ(got[r * ld + c], rf[r * ld + c]) << "padding changed";
}

template <class T>
void run_embedding_layernorm(int64_t hidden, bool vec8, uint32_t seed) {
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
  std::vector<T> out(tokens * hidden, to_t<T>(NAN));
  if (vec8) {
    emu::launch(dim3(tokens), dim3(layernorm_vec8_threads(hidden)), kLayernormVec8SmemBytes, [&] {
      embedding_layernorm_vec8_kernel<T>(ids.data(), pids.data(), word.data(), pos.data(),
                                         type.data(), gamma.data(), beta.data(), 1e-12f,
                                         static_cast<int>(hidden), out.data());
    });
  } else {
    emu::launch(dim3(tokens), dim3(layernorm_threads(hidden)), layernorm_smem_bytes(hidden), [&] {
      embedding_layernorm_kernel<T>(ids.data(), pids.data(), word.data(), pos.data(), type.data(),
                                    gamma.data(), beta.data(), 1e-12f, static_cast<int>(hidden),
                                    out.data());
    });
  }
  expect_rows_close(to_float(out), want, tokens, hidden, hidden,
                    std::is_same_v<T, __half> ? 1e-2 : 6e-2,
                    std::string(vec8 ? "vec8" : "general") + " embedding_layernorm, hidden " +
                        std::to_string(hidden));
}

TEST(EmulatedLayerNorm, BothFormsMatchCpu) {
  run_add_layernorm<__half>(768, 776, true, 7);
  run_add_layernorm<__nv_bfloat16>(64, 64, true, 8);
  run_add_layernorm<__half>(100, 104, false, 9);
  run_add_layernorm<__nv_bfloat16>(300, 300, false, 10);
  run_embedding_layernorm<__half>(384, true, 11);
  run_embedding_layernorm<__nv_bfloat16>(64, true, 12);
  run_embedding_layernorm<__half>(100, false, 13);
}

}  // namespace
}  // namespace sluice::cuda
