#include "kernels/cuda/embedding_layernorm.cuh"

#include <stdexcept>

#include "kernels/cuda/cuda_error.h"
#include "kernels/cuda/layernorm_row.cuh"

namespace sluice::cuda {
namespace {

// One block per token.
template <class T>
__global__ void embedding_layernorm_kernel(const int32_t* __restrict__ ids, const int32_t* __restrict__ pos,
                                           const T* __restrict__ word, const T* __restrict__ position,
                                           const float* __restrict__ type_row, const float* __restrict__ gamma,
                                           const float* __restrict__ beta, float eps, int hidden, T* __restrict__ out) {
  extern __shared__ float smem[];
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
__global__ void embedding_layernorm_vec8_kernel(const int32_t* __restrict__ ids, const int32_t* __restrict__ pos,
                                                const T* __restrict__ word, const T* __restrict__ position,
                                                const float* __restrict__ type_row,
                                                const float* __restrict__ gamma, const float* __restrict__ beta,
                                                float eps, int hidden, T* __restrict__ out) {
  __shared__ float scratch[32];
  const int64_t t = blockIdx.x;
  const int c = threadIdx.x * 8;
  const bool active = c < hidden;
  float v[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = 0.f;
  if (active) {
    const uint4 wv = *reinterpret_cast<const uint4*>(word + static_cast<int64_t>(ids[t]) * hidden + c);
    const uint4 pv = *reinterpret_cast<const uint4*>(position + static_cast<int64_t>(pos[t]) * hidden + c);
    const T* we = reinterpret_cast<const T*>(&wv);
    const T* pe = reinterpret_cast<const T*>(&pv);
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = to_f32(we[i]) + to_f32(pe[i]) + (type_row ? type_row[c + i] : 0.f);
  }
  layernorm_finish_vec8(v, active, c, hidden, gamma, beta, eps, out + t * hidden, scratch);
}

}  // namespace

void embedding_layernorm(DType dt, const int32_t* ids, const int32_t* position_ids, int64_t tokens,
                         const void* word, const void* position, const float* type_row, const float* gamma,
                         const float* beta, float eps, int64_t hidden, void* out, cudaStream_t stream) {
  if (tokens < 0 || hidden <= 0 || hidden > 8192)
    throw std::invalid_argument("embedding_layernorm: need tokens >= 0 and 0 < hidden <= 8192");
  if (tokens > 0x7fffffff) throw std::invalid_argument("embedding_layernorm: too many tokens for one launch");
  if (tokens == 0) return;
  const bool vec8 = layernorm_vec8_applies(hidden) && aligned16(word, hidden) && aligned16(position, hidden) &&
                    aligned16(out, hidden);
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    if (vec8) {
      embedding_layernorm_vec8_kernel<T><<<static_cast<unsigned>(tokens), layernorm_vec8_threads(hidden), 0, stream>>>(
          ids, position_ids, static_cast<const T*>(word), static_cast<const T*>(position), type_row, gamma, beta, eps,
          static_cast<int>(hidden), static_cast<T*>(out));
      return;
    }
    embedding_layernorm_kernel<T><<<static_cast<unsigned>(tokens), layernorm_threads(hidden),
                                     layernorm_smem_bytes(hidden), stream>>>(
        ids, position_ids, static_cast<const T*>(word), static_cast<const T*>(position), type_row, gamma, beta, eps,
        static_cast<int>(hidden), static_cast<T*>(out));
  });
  check_launch("embedding_layernorm_kernel", "embedding_layernorm");
}

}  // namespace sluice::cuda
