// Harness for the GPU op tests (ggml test-backend-ops style): runs one CUDA
// op on host fp32 vectors, so that tests/gpu can compare it with the CPU
// backend's op on the same inputs without including a CUDA header.
//
// Conventions for every op here: inputs the device stores as fp16/bf16 are
// rounded to `dt` on upload (pass them through round_to() first to give the
// CPU reference bit-identical inputs); fp32 parameters (biases, LayerNorm
// weights, classifier weights) go up as they are. Each output buffer is
// filled with NaN on the device before the op runs and returned whole
// (row-stride padding included) as fp32, so an element the op should have
// written and did not shows up as NaN, and one it should not have touched
// stays NaN. Calls are synchronous and throw CudaError / std::invalid_argument
// on failure. Device: SLUICE_GPU_TEST_DEVICE (default 0).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cuda/attention_kernel.h"
#include "kernels/cuda/dtype.h"
#include "src/engine/activation.h"

namespace sluice::cuda::opcheck {

// Empty when a device the backend can use is present, else why not (for GTEST_SKIP).
std::string why_no_device();
int test_device();

// v rounded to dt and back: exactly what the device holds.
std::vector<float> round_to(DType dt, const std::vector<float>& v);

std::vector<float> embedding_layernorm(DType dt, const std::vector<int32_t>& ids,
                                       const std::vector<int32_t>& pos,
                                       const std::vector<float>& word,
                                       const std::vector<float>& position,
                                       const std::vector<float>& type_row,
                                       const std::vector<float>& gamma,
                                       const std::vector<float>& beta, float eps, int64_t hidden);

// Where add_layernorm writes: a fresh buffer [rows, ld_out], or in place over
// x or over the residual (then ld_out is that input's stride).
enum class Alias { kNone, kX, kResidual };
std::vector<float> add_layernorm(DType dt, const std::vector<float>& x, int64_t ld_x,
                                 const std::vector<float>& bias, const std::vector<float>& residual,
                                 int64_t ld_res, const std::vector<float>& gamma,
                                 const std::vector<float>& beta, float eps, int64_t rows,
                                 int64_t cols, int64_t ld_out, Alias alias);

// In place: returns the whole x buffer afterwards (padding columns must come back unchanged).
std::vector<float> bias_activation(DType dt, const std::vector<float>& x, int64_t ld, int64_t rows,
                                   int64_t cols, const std::vector<float>& bias,
                                   engine::Activation act);

// Output rows: cu.back() (one per token) or cu.size() - 1 with first_token_only.
std::vector<float> attention(DType dt, const std::vector<float>& qkv, int64_t ld_qkv,
                             const std::vector<float>& bias, const std::vector<int32_t>& cu,
                             int64_t max_seqlen, int64_t heads, int64_t head_dim, float scale,
                             bool first_token_only, int64_t ld_out, AttentionKernel kernel);

std::vector<float> linear(DType dt, const std::vector<float>& x, int64_t ld_x,
                          const std::vector<float>& w, int64_t m, int64_t n, int64_t k,
                          int64_t ld_y);

std::vector<float> gather_first_rows(DType dt, const std::vector<float>& x, int64_t ld_x,
                                     const std::vector<int32_t>& cu, int64_t cols, int64_t ld_out);
std::vector<float> mean_pool(DType dt, const std::vector<float>& x, int64_t ld_x,
                             const std::vector<int32_t>& cu, int64_t cols, int64_t ld_out);
std::vector<float> rows_to_f32(DType dt, const std::vector<float>& x, int64_t ld_x, int64_t rows,
                               int64_t cols, int64_t ld_out);
std::vector<float> classifier_out(DType dt, const std::vector<float>& x, int64_t ld_x,
                                  const std::vector<float>& w, const std::vector<float>& bias,
                                  int64_t rows, int64_t labels, int64_t cols);
// fp32 in place; returns the whole buffer.
std::vector<float> softmax_rows(const std::vector<float>& x, int64_t ld, int64_t rows,
                                int64_t cols);
std::vector<float> sigmoid_rows(const std::vector<float>& x, int64_t ld, int64_t rows,
                                int64_t cols);

}  // namespace sluice::cuda::opcheck
