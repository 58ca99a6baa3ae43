// Launcher of the bias + residual + LayerNorm kernels (layernorm_kernels.cuh).
#include <stdexcept>

#include "kernels/cuda/add_layernorm.cuh"
#include "kernels/cuda/cuda_error.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/layernorm_kernels.cuh"

namespace sluice::cuda {

void add_layernorm(DType dt, const void* x, int64_t ld_x, const float* bias, const void* residual,
                   int64_t ld_res, const float* gamma, const float* beta, float eps, int64_t rows,
                   int64_t cols, void* out, int64_t ld_out, cudaStream_t stream) {
  if (rows < 0 || cols <= 0 || cols > 8192)
    throw std::invalid_argument("add_layernorm: need rows >= 0 and 0 < cols <= 8192");
  if (ld_x < cols || ld_out < cols || (residual && ld_res < cols))
    throw std::invalid_argument("add_layernorm: a row stride is smaller than cols");
  if (rows > 0x7fffffff) throw std::invalid_argument("add_layernorm: too many rows for one launch");
  if (rows == 0) return;
  const bool vec8 = layernorm_vec8_applies(cols) && aligned16(x, ld_x) &&
                    aligned16(residual, ld_res) && aligned16(out, ld_out);
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    if (vec8 && layernorm_warp_applies(cols)) {
      with_layernorm_warp_groups(cols, [&](auto groups) {
        SLUICE_LAUNCH((add_layernorm_warp_kernel<T, decltype(groups)::value>),
                      layernorm_warp_blocks(rows), 32u * kLayernormWarpRows, 0, stream,
                      static_cast<const T*>(x), ld_x, bias, static_cast<const T*>(residual), ld_res,
                      gamma, beta, eps, static_cast<int>(cols), rows, static_cast<T*>(out), ld_out);
      });
      return;
    }
    if (vec8) {
      SLUICE_LAUNCH(add_layernorm_vec8_kernel<T>, static_cast<unsigned>(rows),
                    layernorm_vec8_threads(cols), kLayernormVec8SmemBytes, stream,
                    static_cast<const T*>(x), ld_x, bias, static_cast<const T*>(residual), ld_res,
                    gamma, beta, eps, static_cast<int>(cols), static_cast<T*>(out), ld_out);
      return;
    }
    SLUICE_LAUNCH(add_layernorm_kernel<T>, static_cast<unsigned>(rows), layernorm_threads(cols),
                  layernorm_smem_bytes(cols), stream, static_cast<const T*>(x), ld_x, bias,
                  static_cast<const T*>(residual), ld_res, gamma, beta, eps, static_cast<int>(cols),
                  static_cast<T*>(out), ld_out);
  });
  check_launch("add_layernorm_kernel", "add_layernorm");
}

}  // namespace sluice::cuda
