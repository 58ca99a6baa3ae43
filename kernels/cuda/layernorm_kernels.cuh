// The LayerNorm kernels: embedding gather + sum + LayerNorm and bias +
// residual + LayerNorm, one block per row, each in two forms: a 16-byte form
// with the row in registers (eight columns per thread; widths that are a
// multiple of 8, up to 8192) and a general one with the row in shared memory.
// Kernel code only, included by embedding_layernorm.cu and add_layernorm.cu
// (the launchers) and by the host emulation test.
#pragma once
#include "kernels/cuda/device_common.cuh"

namespace sluice::cuda {

// Shared memory of a LayerNorm row kernel: 32 floats of reduction scratch,
// then the row in fp32.
inline size_t layernorm_smem_bytes(int64_t cols) {
  return (32 + static_cast<size_t>(cols)) * sizeof(float);
}

// out[c] = (row[c] - mean) / sqrt(var + eps) * gamma[c] + beta[c] with the
// biased two-pass variance of torch.nn.LayerNorm. Thread i wrote row[c] for
// c = i, i + blockDim.x, ... and reads back only those, so no barrier is
// needed before this call; `sum` is the block-wide sum of the row.
template <class T>
__device__ __forceinline__ void layernorm_finish(const float* row, float sum, int cols,
                                                 const float* gamma, const float* beta, float eps,
                                                 T* out, float* scratch) {
  const float mean = sum / static_cast<float>(cols);
  float sq = 0.f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    const float d = row[c] - mean;
    sq += d * d;
  }
  const float var = block_sum(sq, scratch) / static_cast<float>(cols);
  const float rstd = 1.f / sqrtf(var + eps);
  for (int c = threadIdx.x; c < cols; c += blockDim.x)
    out[c] = from_f32<T>((row[c] - mean) * rstd * gamma[c] + beta[c]);
}

inline unsigned layernorm_threads(int64_t cols) { return cols >= 1024 ? 256u : 128u; }

// The 16-byte path: a row of `cols` (a multiple of 8, at most 8192) held in
// registers, eight values per thread, one thread per eight columns.
inline bool layernorm_vec8_applies(int64_t cols) { return cols % 8 == 0 && cols <= 8192; }
inline unsigned layernorm_vec8_threads(int64_t cols) {
  return static_cast<unsigned>((cols / 8 + 31) / 32 * 32);
}
inline constexpr size_t kLayernormVec8SmemBytes = 32 * sizeof(float);  // reduction scratch
inline bool aligned16(const void* p, int64_t ld) {
  return p == nullptr || (reinterpret_cast<uintptr_t>(p) % 16 == 0 && ld % 8 == 0);
}

// LayerNorm of the row whose eight values at columns [c, c + 8) this thread
// holds in v (inactive threads hold zeros and pass active = false); writes
// them to out[c..c+8) with one 16-byte store. Every thread must call it.
template <class T>
__device__ __forceinline__ void layernorm_finish_vec8(float (&v)[8], bool active, int c, int cols,
                                                      const float* gamma, const float* beta,
                                                      float eps, T* out, float* scratch) {
  float sum = 0.f;
#pragma unroll
  for (int i = 0; i < 8; ++i) sum += v[i];
  const float mean = block_sum(sum, scratch) / static_cast<float>(cols);
  float sq = 0.f;
  if (active) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const float d = v[i] - mean;
      sq += d * d;
    }
  }
  const float rstd = 1.f / sqrtf(block_sum(sq, scratch) / static_cast<float>(cols) + eps);
  if (!active) return;
  Vec8<T> o;
#pragma unroll
  for (int i = 0; i < 8; ++i)
    o.v[i] = from_f32<T>((v[i] - mean) * rstd * gamma[c + i] + beta[c + i]);
  store8(out + c, o);
}

// One block per token.
template <class T>
__global__ void embedding_layernorm_kernel(
    const int32_t* __restrict__ ids, const int32_t* __restrict__ pos, const T* __restrict__ word,
    const T* __restrict__ position, const float* __restrict__ type_row,
    const float* __restrict__ gamma, const float* __restrict__ beta, float eps, int hidden,
    T* __restrict__ out) {
  float* smem = reinterpret_cast<float*>(dynamic_smem());
  float* scratch = smem;
  float* row = smem + 32;
  const int64_t t = blockIdx.x;
  const T* w = word + static_cast<int64_t>(ids[t]) * hidden;
  const T* p = position + static_cast<int64_t>(pos[t]) * hidden;
  float sum = 0.f;
  for (int c = threadIdx.x; c < hidden; c += blockDim.x) {
    float v = to_f32(w[c]) + to_f32(p[c]);
    if (type_row) v += type_row[c];
    row[c] = v;
    sum += v;
  }
  sum = block_sum(sum, scratch);
  layernorm_finish(row, sum, hidden, gamma, beta, eps, out + t * hidden, scratch);
}

// One block per token, eight columns per thread in registers, 16-byte loads.
template <class T>
__global__ void embedding_layernorm_vec8_kernel(
    const int32_t* __restrict__ ids, const int32_t* __restrict__ pos, const T* __restrict__ word,
    const T* __restrict__ position, const float* __restrict__ type_row,
    const float* __restrict__ gamma, const float* __restrict__ beta, float eps, int hidden,
    T* __restrict__ out) {
  float* scratch = reinterpret_cast<float*>(dynamic_smem());  // 32 floats
  const int64_t t = blockIdx.x;
  const int c = threadIdx.x * 8;
  const bool active = c < hidden;
  float v[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = 0.f;
  if (active) {
    const Vec8<T> we = load8(word + static_cast<int64_t>(ids[t]) * hidden + c);
    const Vec8<T> pe = load8(position + static_cast<int64_t>(pos[t]) * hidden + c);
#pragma unroll
    for (int i = 0; i < 8; ++i)
      v[i] = to_f32(we.v[i]) + to_f32(pe.v[i]) + (type_row ? type_row[c + i] : 0.f);
  }
  layernorm_finish_vec8(v, active, c, hidden, gamma, beta, eps, out + t * hidden, scratch);
}

// One block per row. No __restrict__ on x/residual/out: out may alias them.
template <class T>
__global__ void add_layernorm_kernel(const T* x, int64_t ld_x, const float* __restrict__ bias,
                                     const T* residual, int64_t ld_res,
                                     const float* __restrict__ gamma,
                                     const float* __restrict__ beta, float eps, int cols, T* out,
                                     int64_t ld_out) {
  float* smem = reinterpret_cast<float*>(dynamic_smem());
  float* scratch = smem;
  float* row = smem + 32;
  const int64_t r = blockIdx.x;
  const T* xr = x + r * ld_x;
  const T* rr = residual ? residual + r * ld_res : nullptr;
  float sum = 0.f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    float v = to_f32(xr[c]);
    if (bias) v += bias[c];
    if (rr) v += to_f32(rr[c]);
    row[c] = v;
    sum += v;
  }
  // block_sum's barriers also order every read of x/residual above before
  // any write of out below, which is what makes aliasing safe.
  sum = block_sum(sum, scratch);
  layernorm_finish(row, sum, cols, gamma, beta, eps, out + r * ld_out, scratch);
}

// One block per row, eight columns per thread in registers, 16-byte accesses.
template <class T>
__global__ void add_layernorm_vec8_kernel(const T* x, int64_t ld_x, const float* __restrict__ bias,
                                          const T* residual, int64_t ld_res,
                                          const float* __restrict__ gamma,
                                          const float* __restrict__ beta, float eps, int cols,
                                          T* out, int64_t ld_out) {
  float* scratch = reinterpret_cast<float*>(dynamic_smem());  // 32 floats
  const int64_t r = blockIdx.x;
  const int c = threadIdx.x * 8;
  const bool active = c < cols;
  float v[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = 0.f;
  if (active) {
    const Vec8<T> xe = load8(x + r * ld_x + c);
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = to_f32(xe.v[i]) + (bias ? bias[c + i] : 0.f);
    if (residual) {
      const Vec8<T> re = load8(residual + r * ld_res + c);
#pragma unroll
      for (int i = 0; i < 8; ++i) v[i] += to_f32(re.v[i]);
    }
  }
  // The barriers in layernorm_finish_vec8 order these reads before the
  // write of the same row (out may alias x or residual).
  layernorm_finish_vec8(v, active, c, cols, gamma, beta, eps, out + r * ld_out, scratch);
}

}  // namespace sluice::cuda
