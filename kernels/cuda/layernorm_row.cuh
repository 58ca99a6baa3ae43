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

}  // namespace sluice::cuda
