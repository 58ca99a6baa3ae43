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
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    add_layernorm_kernel<T><<<static_cast<unsigned>(rows), layernorm_threads(cols), layernorm_smem_bytes(cols),
                               stream>>>(static_cast<const T*>(x), ld_x, bias, static_cast<const T*>(residual),
                                         ld_res, gamma, beta, eps, static_cast<int>(cols), static_cast<T*>(out),
                                         ld_out);
  });
  check_launch("add_layernorm_kernel", "add_layernorm");
}

}  // namespace sluice::cuda
