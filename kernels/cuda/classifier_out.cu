// Launcher of the classifier output kernel (classifier_out_kernels.cuh).
#include <stdexcept>

#include "kernels/cuda/classifier_out.cuh"
#include "kernels/cuda/classifier_out_kernels.cuh"
#include "kernels/cuda/cuda_error.h"
#include "kernels/cuda/launch.cuh"

namespace sluice::cuda {

void classifier_out(DType dt, const void* x, int64_t ld_x, const float* w, const float* bias,
                    int64_t rows, int64_t labels, int64_t cols, float* out, cudaStream_t stream) {
  if (rows < 0 || labels <= 0 || cols <= 0 || ld_x < cols || labels > 0x7fffffff ||
      cols > 0x7fffffff)
    throw std::invalid_argument("classifier_out: need rows >= 0, labels > 0, 0 < cols <= ld_x");
  const int64_t items = rows * labels;
  if ((items + kClassifierWarps - 1) / kClassifierWarps > 0x7fffffff)
    throw std::invalid_argument("classifier_out: too many outputs");
  if (items == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    SLUICE_LAUNCH(classifier_out_kernel<T>, ceil_div(items, kClassifierWarps),
                  32 * kClassifierWarps, 0, stream, static_cast<const T*>(x), ld_x, w, bias, rows,
                  static_cast<int>(labels), static_cast<int>(cols), out);
  });
  check_launch("classifier_out_kernel", "classifier_out");
}

}  // namespace sluice::cuda
