// Launcher of the softmax and sigmoid kernels (softmax_kernels.cuh).
#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_error.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/softmax.cuh"
#include "kernels/cuda/softmax_kernels.cuh"

namespace sluice::cuda {
namespace {

void check_shape(const char* op, int64_t ld, int64_t rows, int64_t cols) {
  if (rows < 0 || rows > 0x7fffffff || cols <= 0 || cols > 0x7fffffff || ld < cols)
    throw std::invalid_argument(std::string(op) + ": need 0 <= rows < 2^31 and 0 < cols <= ld");
}

}  // namespace

void softmax_rows(float* x, int64_t ld, int64_t rows, int64_t cols, cudaStream_t stream) {
  check_shape("softmax_rows", ld, rows, cols);
  if (rows == 0) return;
  SLUICE_LAUNCH(softmax_rows_kernel, static_cast<unsigned>(rows), kSoftmaxThreads,
                kSoftmaxSmemBytes, stream, x, ld, static_cast<int>(cols));
  check_launch("softmax_rows_kernel", "softmax_rows");
}

void sigmoid_rows(float* x, int64_t ld, int64_t rows, int64_t cols, cudaStream_t stream) {
  check_shape("sigmoid_rows", ld, rows, cols);
  if (rows == 0) return;
  SLUICE_LAUNCH(sigmoid_rows_kernel, static_cast<unsigned>(rows), kSoftmaxThreads, 0, stream, x, ld,
                static_cast<int>(cols));
  check_launch("sigmoid_rows_kernel", "sigmoid_rows");
}

}  // namespace sluice::cuda
