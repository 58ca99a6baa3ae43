// Launcher of the bias + activation kernels (bias_activation_kernels.cuh).
#include <stdexcept>

#include "kernels/cuda/bias_activation.cuh"
#include "kernels/cuda/bias_activation_kernels.cuh"
#include "kernels/cuda/cuda_error.h"
#include "kernels/cuda/launch.cuh"

namespace sluice::cuda {

void bias_activation(DType dt, void* x, int64_t ld, int64_t rows, int64_t cols, const float* bias,
                     engine::Activation act, cudaStream_t stream) {
  if (rows < 0 || cols <= 0 || cols > 0x7fffffff || ld < cols)
    throw std::invalid_argument("bias_activation: need rows >= 0, 0 < cols <= ld");
  if (rows == 0) return;
  const bool vec8 = bias_activation_vec8_applies(x, ld, cols);
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    if (vec8) {
      const bool known = with_activation(act, [&](auto a) {
        SLUICE_LAUNCH((bias_activation_vec8_kernel<T, decltype(a)::value>),
                      bias_activation_vec8_grid(rows, cols), kBiasActivationVec8Threads, 0, stream,
                      static_cast<T*>(x), ld, rows, static_cast<int>(cols), bias);
      });
      if (!known) throw std::invalid_argument("bias_activation: unknown activation");
    } else {
      SLUICE_LAUNCH(bias_activation_kernel<T>, bias_activation_grid(rows * cols),
                    kBiasActivationThreads, 0, stream, static_cast<T*>(x), ld, rows,
                    static_cast<int>(cols), bias, act);
    }
  });
  check_launch("bias_activation_kernel", "bias_activation");
}

}  // namespace sluice::cuda
