// The simple attention kernel (see attention.cuh for the op): one warp per
// query, CUDA cores, any head_dim up to 256. Kernel code only, included by
// attention.cu and by the host emulation test.
#pragma once
#include "kernels/cuda/device_common.cuh"

namespace sluice::cuda {

constexpr int kSimpleWarps = 4;    // queries per block
constexpr int kSimplePerLane = 8;  // head_dim ≤ 32 × 8

// One warp per query: lanes split head_dim, the dot product is a warp sum,
// softmax runs online over the keys (running max m, running sum l), and the
// output accumulates in registers. Grid: (sequence, head, query block).
template <class T>
__global__ void __launch_bounds__(32 * kSimpleWarps)
    attention_simple_kernel(const T* __restrict__ qkv, int64_t ld, const float* __restrict__ bias,
                            const int32_t* __restrict__ cu, int heads, int dh, float scale,
                            int first_only, T* __restrict__ out, int64_t ld_out) {
  const int s = blockIdx.x;
  const int h = blockIdx.y;
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  const int q = blockIdx.z * kSimpleWarps + warp;
  const int start = cu[s];
  const int len = cu[s + 1] - start;
  if (q >= len || (first_only && q != 0)) return;  // whole warps leave; no block barrier below
  const int d = heads * dh;
  const float* bq = bias ? bias + h * dh : nullptr;
  const float* bk = bias ? bias + d + h * dh : nullptr;
  const float* bv = bias ? bias + 2 * d + h * dh : nullptr;

  float qv[kSimplePerLane], o[kSimplePerLane];
  const T* qrow = qkv + static_cast<int64_t>(start + q) * ld + h * dh;
#pragma unroll
  for (int i = 0; i < kSimplePerLane; ++i) {
    const int c = lane + 32 * i;
    qv[i] = c < dh ? (to_f32(qrow[c]) + (bq ? bq[c] : 0.f)) * scale : 0.f;
    o[i] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  for (int j = 0; j < len; ++j) {
    const T* krow = qkv + static_cast<int64_t>(start + j) * ld + d + h * dh;
    const T* vrow = krow + d;
    float part = 0.f;
#pragma unroll
    for (int i = 0; i < kSimplePerLane; ++i) {
      const int c = lane + 32 * i;
      if (c < dh) part += qv[i] * (to_f32(krow[c]) + (bk ? bk[c] : 0.f));
    }
    const float sj = warp_sum(part);
    const float m_new = fmaxf(m, sj);
    const float alpha = expf(m - m_new);  // 0 for the first key (m = -inf)
    const float p = expf(sj - m_new);
    l = l * alpha + p;
#pragma unroll
    for (int i = 0; i < kSimplePerLane; ++i) {
      const int c = lane + 32 * i;
      if (c < dh) o[i] = o[i] * alpha + p * (to_f32(vrow[c]) + (bv ? bv[c] : 0.f));
    }
    m = m_new;
  }
  const int64_t row = first_only ? s : start + q;
  const float inv = 1.f / l;
#pragma unroll
  for (int i = 0; i < kSimplePerLane; ++i) {
    const int c = lane + 32 * i;
    if (c < dh) out[row * ld_out + h * dh + c] = from_f32<T>(o[i] * inv);
  }
}

}  // namespace sluice::cuda
