// Device-side building blocks shared by the op kernels: fp16/bf16 <-> fp32
// conversion, warp and block reductions, the activations of model configs,
// and the DType -> C++ type dispatch of the exported op entries.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/dtype.h"
#include "src/engine/activation.h"

namespace sluice::cuda {

__device__ __forceinline__ float to_f32(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f32(float x) { return x; }

template <class T>
__device__ __forceinline__ T from_f32(float x);
template <>
__device__ __forceinline__ __half from_f32<__half>(float x) {
  return __float2half_rn(x);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}
template <>
__device__ __forceinline__ float from_f32<float>(float x) {
  return x;
}

// Eight 16-bit values moved as one 16-byte access (the alignment lets the
// compiler emit 128-bit loads and stores) and read element by element as T:
// no type punning through uint4, which the optimiser may break.
template <class T>
struct alignas(16) Vec8 {
  T v[8];
};
// A misaligned one faults on the GPU; the host emulation checks for it.
template <class T>
__device__ __forceinline__ Vec8<T> load8(const T* p) {
#ifdef SLUICE_CUDA_HOST_EMULATION
  emu::check_aligned16(p, "load8: pointer not 16-byte aligned");
#endif
  return *reinterpret_cast<const Vec8<T>*>(p);
}
template <class T>
__device__ __forceinline__ void store8(T* p, const Vec8<T>& v) {
#ifdef SLUICE_CUDA_HOST_EMULATION
  emu::check_aligned16(p, "store8: pointer not 16-byte aligned");
#endif
  *reinterpret_cast<Vec8<T>*>(p) = v;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread
// gets the total. `scratch`: 32 floats of shared memory. Contains
// __syncthreads, so every thread of the block must call it.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  v = warp_sum(v);
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  __syncthreads();  // a previous call may still be reading scratch
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const float t = lane < static_cast<int>(blockDim.x >> 5) ? scratch[lane] : 0.f;
  return warp_sum(t);
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
  v = warp_max(v);
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const float t = lane < static_cast<int>(blockDim.x >> 5) ? scratch[lane] : -INFINITY;
  return warp_max(t);
}

// The same definitions as the CPU backend (kernels/cpu/ops_impl.h) and HF.
__device__ __forceinline__ float activate(float x, engine::Activation a) {
  switch (a) {
    case engine::Activation::kIdentity:
      return x;
    case engine::Activation::kGeluErf:
      return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    case engine::Activation::kGeluTanh:
      return 0.5f * x * (1.f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case engine::Activation::kRelu:
      return fmaxf(x, 0.f);
    case engine::Activation::kTanh:
      return tanhf(x);
  }
  return x;
}

// Calls f(T{}) with T the C++ type of `dt`, for the op entries:
//   dispatch(dt, [&](auto tag) { using T = decltype(tag); kernel<T><<<...>>>(...); });
template <class F>
void dispatch(DType dt, F&& f) {
  if (dt == DType::kF16) {
    f(__half{});
  } else {
    f(__nv_bfloat16{});
  }
}

// Calls f(std::integral_constant<decltype(v), V>{}) for the V among Vs that
// equals v, so that a run-time value picks a kernel's template argument:
//   dispatch_value<1, 2, 3, 4>(groups, [&](auto g) { k<T, decltype(g)::value><<<...>>>(...); });
// Returns false, calling nothing, when v is none of them.
template <auto... Vs, class V, class F>
bool dispatch_value(V v, F&& f) {
  return ((v == Vs ? (f(std::integral_constant<decltype(Vs), Vs>{}), true) : false) || ...);
}

#ifdef __CUDACC__
// The block's dynamic shared memory (the host emulation test defines its own).
__device__ __forceinline__ unsigned char* dynamic_smem() {
  extern __shared__ __align__(128) unsigned char smem_dynamic[];
  return smem_dynamic;
}
#endif

inline unsigned ceil_div(int64_t a, int64_t b) { return static_cast<unsigned>((a + b - 1) / b); }

}  // namespace sluice::cuda
