// The classifier output kernel (see classifier_out.cuh for the op): one warp
// per (row, label) dot product, kClassifierWarps of them per block; warps
// past the last output leave at once (no block barrier follows). Kernel code
// only, included by classifier_out.cu (the launcher) and by the host
// emulation test.
#pragma once
#include "kernels/cuda/device_common.cuh"

namespace sluice::cuda {

constexpr int kClassifierWarps = 4;

// One warp per (row, label).
template <class T>
__global__ void classifier_out_kernel(const T* __restrict__ x, int64_t ld_x,
                                      const float* __restrict__ w, const float* __restrict__ bias,
                                      int64_t rows, int labels, int cols, float* __restrict__ out) {
  const int64_t item = blockIdx.x * static_cast<int64_t>(kClassifierWarps) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (item >= rows * labels) return;
  const int64_t r = item / labels;
  const int j = static_cast<int>(item % labels);
  const T* xr = x + r * ld_x;
  const float* wj = w + static_cast<int64_t>(j) * cols;
  float acc = 0.f;
  for (int c = lane; c < cols; c += 32) acc += to_f32(xr[c]) * wj[c];
  acc = warp_sum(acc);
  if (lane == 0) out[item] = acc + (bias ? bias[j] : 0.f);
}

}  // namespace sluice::cuda
