// The bias + activation kernels (see bias_activation.cuh for the op), in two
// forms: eight elements per thread with 16-byte accesses on a 2-D grid, and
// one element per thread for any shape, a grid-stride loop. Both work in
// place. Kernel code only, included by bias_activation.cu (the launcher) and
// by the host emulation test.
#pragma once
#include <algorithm>

#include "kernels/cuda/device_common.cuh"

namespace sluice::cuda {

constexpr int kBiasActivationThreads = 256;

// The 16-byte form needs cols and ld multiples of 8 and x 16-byte aligned.
inline bool bias_activation_vec8_applies(const void* x, int64_t ld, int64_t cols) {
  return cols % 8 == 0 && ld % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0;
}

// Blocks for `work` items (elements) of the general form's grid-stride loop:
// enough blocks to fill any current GPU several times over.
inline unsigned bias_activation_grid(int64_t work) {
  const int64_t blocks = (work + kBiasActivationThreads - 1) / kBiasActivationThreads;
  return static_cast<unsigned>(blocks < 65536 ? (blocks > 0 ? blocks : 1) : 65536);
}

// The 16-byte form's grid: x covers a row's groups of eight columns
// (kBiasActivationVec8Threads per block), y a share of the rows, so that
// about kBiasActivationVec8Blocks blocks run (a few waves on any current GPU)
// and each thread walks several rows with its column group and its eight
// biases fixed: no index division and no bias reload per element (the
// grid-stride form it replaced spent both on every group of eight; it ran at
// 2.2x the bandwidth floor on an H200, kernels/cuda/NOTES.md).
constexpr int kBiasActivationVec8Threads = 128;
constexpr int64_t kBiasActivationVec8Blocks = 4096;
inline dim3 bias_activation_vec8_grid(int64_t rows, int64_t cols) {
  const int64_t gx = (cols / 8 + kBiasActivationVec8Threads - 1) / kBiasActivationVec8Threads;
  const int64_t gy =
      std::clamp<int64_t>(kBiasActivationVec8Blocks / gx, 1, std::clamp<int64_t>(rows, 1, 65535));
  return dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy));
}

// Eight elements per thread with 16-byte loads and stores
// (bias_activation_vec8_applies), on bias_activation_vec8_grid's grid (or any
// grid whose x covers cols / 8 groups). The activation is a template
// argument, so the inner loop has no switch.
template <class T, engine::Activation A>
__global__ void bias_activation_vec8_kernel(T* __restrict__ x, int64_t ld, int64_t rows, int cols,
                                            const float* __restrict__ bias) {
  const int64_t group = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (group >= cols / 8) return;
  const int c0 = static_cast<int>(group * 8);
  float b[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) b[i] = bias ? bias[c0 + i] : 0.f;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    T* p = x + r * ld + c0;
    Vec8<T> v = load8(p);
#pragma unroll
    for (int i = 0; i < 8; ++i) v.v[i] = from_f32<T>(activate(to_f32(v.v[i]) + b[i], A));
    store8(p, v);
  }
}

// Calls f(std::integral_constant<engine::Activation, A>{}) for A == act;
// false when act is none of the activations.
template <class F>
bool with_activation(engine::Activation act, F&& f) {
  using engine::Activation;
  return dispatch_value<Activation::kIdentity, Activation::kGeluErf, Activation::kGeluTanh,
                        Activation::kRelu, Activation::kTanh>(act, f);
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
