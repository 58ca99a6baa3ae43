#include <stdexcept>

#include "kernels/cuda/bias_activation.cuh"
#include "kernels/cuda/cuda_error.h"
#include "kernels/cuda/device_common.cuh"

namespace sluice::cuda {
namespace {

constexpr int kThreads = 256;

// Eight elements per thread with 16-byte loads and stores: needs cols and ld
// multiples of 8 and x 16-byte aligned (checked by the entry).
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

unsigned grid_for(int64_t work) {
  // Grid-stride loops: enough blocks to fill any current GPU several times over.
  const int64_t blocks = (work + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 65536 ? (blocks > 0 ? blocks : 1) : 65536);
}

}  // namespace

void bias_activation(DType dt, void* x, int64_t ld, int64_t rows, int64_t cols, const float* bias,
                     engine::Activation act, cudaStream_t stream) {
  if (rows < 0 || cols <= 0 || cols > 0x7fffffff || ld < cols)
    throw std::invalid_argument("bias_activation: need rows >= 0, 0 < cols <= ld");
  if (rows == 0) return;
  const bool vec8 = cols % 8 == 0 && ld % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0;
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    if (vec8) {
      bias_activation_vec8_kernel<T><<<grid_for(rows * cols / 8), kThreads, 0, stream>>>(
          static_cast<T*>(x), ld, rows, static_cast<int>(cols), bias, act);
    } else {
      bias_activation_kernel<T><<<grid_for(rows * cols), kThreads, 0, stream>>>(
          static_cast<T*>(x), ld, rows, static_cast<int>(cols), bias, act);
    }
  });
  check_launch("bias_activation_kernel", "bias_activation");
}

}  // namespace sluice::cuda
