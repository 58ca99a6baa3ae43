#include "kernels/cuda/add_layernorm.cuh"

#include <stdexcept>

#include "kernels/cuda/cuda_error.h"
#include "kernels/cuda/layernorm_row.cuh"

namespace sluice::cuda {
namespace {

// One block per row. No __restrict__ on x/residual/out: out may alias them.
template <class T>
__global__ void add_layernorm_kernel(const T* x, int64_t ld_x, const float* __restrict__ bias, const T* residual,
                                     int64_t ld_res, const float* __restrict__ gamma, const float* __restrict__ beta,
                                     float eps, int cols, T* out, int64_t ld_out) {
  extern __shared__ float smem[];
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
__global__ void add_layernorm_vec8_kernel(const T* x, int64_t ld_x, const float* __restrict__ bias, const T* residual,
                                          int64_t ld_res, const float* __restrict__ gamma,
                                          const float* __restrict__ beta, float eps, int cols, T* out,
                                          int64_t ld_out) {
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x;
  const int c = threadIdx.x * 8;
  const bool active = c < cols;
  float v[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = 0.f;
  if (active) {
    const uint4 xv = *reinterpret_cast<const uint4*>(x + r * ld_x + c);
    const T* xe = reinterpret_cast<const T*>(&xv);
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = to_f32(xe[i]) + (bias ? bias[c + i] : 0.f);
    if (residual) {
      const uint4 rv = *reinterpret_cast<const uint4*>(residual + r * ld_res + c);
      const T* re = reinterpret_cast<const T*>(&rv);
#pragma unroll
      for (int i = 0; i < 8; ++i) v[i] += to_f32(re[i]);
    }
  }
  // The barriers in layernorm_finish_vec8 order these reads before the
  // write of the same row (out may alias x or residual).
  layernorm_finish_vec8(v, active, c, cols, gamma, beta, eps, out + r * ld_out, scratch);
}

}  // namespace

void add_layernorm(DType dt, const void* x, int64_t ld_x, const float* bias, const void* residual, int64_t ld_res,
                   const float* gamma, const float* beta, float eps, int64_t rows, int64_t cols, void* out,
                   int64_t ld_out, cudaStream_t stream) {
  if (rows < 0 || cols <= 0 || cols > 8192)
    throw std::invalid_argument("add_layernorm: need rows >= 0 and 0 < cols <= 8192");
  if (ld_x < cols || ld_out < cols || (residual && ld_res < cols))
    throw std::invalid_argument("add_layernorm: a row stride is smaller than cols");
  if (rows > 0x7fffffff) throw std::invalid_argument("add_layernorm: too many rows for one launch");
  if (rows == 0) return;
  const bool vec8 = layernorm_vec8_applies(cols) && aligned16(x, ld_x) && aligned16(residual, ld_res) &&
                    aligned16(out, ld_out);
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    if (vec8) {
      add_layernorm_vec8_kernel<T><<<static_cast<unsigned>(rows), layernorm_vec8_threads(cols), 0, stream>>>(
          static_cast<const T*>(x), ld_x, bias, static_cast<const T*>(residual), ld_res, gamma, beta, eps,
          static_cast<int>(cols), static_cast<T*>(out), ld_out);
      return;
    }
    add_layernorm_kernel<T><<<static_cast<unsigned>(rows), layernorm_threads(cols), layernorm_smem_bytes(cols),
                               stream>>>(static_cast<const T*>(x), ld_x, bias, static_cast<const T*>(residual),
                                         ld_res, gamma, beta, eps, static_cast<int>(cols), static_cast<T*>(out),
                                         ld_out);
  });
  check_launch("add_layernorm_kernel", "add_layernorm");
}

}  // namespace sluice::cuda
