// The bias + activation kernels (see bias_activation.cuh for the op), in two
// forms: eight elements per thread with 16-byte accesses, and one element per
// thread for any shape. Both are grid-stride loops over the rows × cols
// elements, in place. Kernel code only, included by bias_activation.cu (the
// launcher) and by the host emulation test.
#pragma once
#include "kernels/cuda/device_common.cuh"

namespace sluice::cuda {

constexpr int kBiasActivationThreads = 256;

// The 16-byte form needs cols and ld multiples of 8 and x 16-byte aligned.
inline bool bias_activation_vec8_applies(const void* x, int64_t ld, int64_t cols) {
  return cols % 8 == 0 && ld % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0;
}

// Blocks for `work` items (groups of eight, or elements) of the grid-stride
// loops: enough blocks to fill any current GPU several times over.
inline unsigned bias_activation_grid(int64_t work) {
  const int64_t blocks = (work + kBiasActivationThreads - 1) / kBiasActivationThreads;
  return static_cast<unsigned>(blocks < 65536 ? (blocks > 0 ? blocks : 1) : 65536);
}

// Eight elements per thread with 16-byte loads and stores
// (bias_activation_vec8_applies).
template <class T>
__global__ void bias_activation_vec8_kernel(T* __restrict__ x, int64_t ld, int64_t rows, int cols,
                                            const float* __restrict__ bias,
                                            engine::Activation act) {
  const int64_t groups_per_row = cols / 8;
  const int64_t total = rows * groups_per_row;
  for (int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; g < total;
       g += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = g / groups_per_row;
    const int c0 = static_cast<int>(g % groups_per_row) * 8;
    T* p = x + r * ld + c0;
    Vec8<T> v = load8(p);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      float f = to_f32(v.v[i]);
      if (bias) f += bias[c0 + i];
      v.v[i] = from_f32<T>(activate(f, act));
    }
    store8(p, v);
  }
}

template <class T>
__global__ void bias_activation_kernel(T* __restrict__ x, int64_t ld, int64_t rows, int cols,
                                       const float* __restrict__ bias, engine::Activation act) {
  const int64_t total = rows * cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / cols;
    const int c = static_cast<int>(i % cols);
    T* p = x + r * ld + c;
    float f = to_f32(*p);
    if (bias) f += bias[c];
    *p = from_f32<T>(activate(f, act));
  }
}

}  // namespace sluice::cuda
