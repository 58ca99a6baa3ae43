// The LayerNorm tail shared by embedding_layernorm.cu and add_layernorm.cu:
// one block per row, the summed row already in shared memory.
#pragma once
#include "kernels/cuda/device_common.cuh"

namespace sluice::cuda {

// Shared memory of a LayerNorm row kernel: 32 floats of reduction scratch,
// then the row in fp32.
inline size_t layernorm_smem_bytes(int64_t cols) { return (32 + static_cast<size_t>(cols)) * sizeof(float); }

// out[c] = (row[c] - mean) / sqrt(var + eps) * gamma[c] + beta[c] with the
// biased two-pass variance of torch.nn.LayerNorm. Thread i wrote row[c] for
// c = i, i + blockDim.x, ... and reads back only those, so no barrier is
// needed before this call; `sum` is the block-wide sum of the row.
template <class T>
__device__ __forceinline__ void layernorm_finish(const float* row, float sum, int cols, const float* gamma,
                                                 const float* beta, float eps, T* out, float* scratch) {
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
inline unsigned layernorm_vec8_threads(int64_t cols) { return static_cast<unsigned>((cols / 8 + 31) / 32 * 32); }
inline bool aligned16(const void* p, int64_t ld) {
  return p == nullptr || (reinterpret_cast<uintptr_t>(p) % 16 == 0 && ld % 8 == 0);
}

// LayerNorm of the row whose eight values at columns [c, c + 8) this thread
// holds in v (inactive threads hold zeros and pass active = false); writes
// them to out[c..c+8) with one 16-byte store. Every thread must call it.
template <class T>
__device__ __forceinline__ void layernorm_finish_vec8(float (&v)[8], bool active, int c, int cols,
                                                      const float* gamma, const float* beta, float eps, T* out,
                                                      float* scratch) {
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
  uint4 o;
  T* oe = reinterpret_cast<T*>(&o);
#pragma unroll
  for (int i = 0; i < 8; ++i) oe[i] = from_f32<T>((v[i] - mean) * rstd * gamma[c + i] + beta[c + i]);
  *reinterpret_cast<uint4*>(out + c) = o;
}

}  // namespace sluice::cuda
