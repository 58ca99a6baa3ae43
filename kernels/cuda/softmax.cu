#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_error.h"
#include "kernels/cuda/device_common.cuh"
#include "kernels/cuda/softmax.cuh"

namespace sluice::cuda {
namespace {

constexpr int kThreads = 128;

// One block per row: max, then sum of exp(x - max), then scale.
__global__ void softmax_rows_kernel(float* __restrict__ x, int64_t ld, int cols) {
  __shared__ float scratch[32];
  float* row = x + blockIdx.x * ld;
  float m = -INFINITY;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, row[c]);
  m = block_max(m, scratch);
  float sum = 0.f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    const float e = expf(row[c] - m);
    row[c] = e;
    sum += e;
  }
  const float inv = 1.f / block_sum(sum, scratch);
  for (int c = threadIdx.x; c < cols; c += blockDim.x) row[c] *= inv;
}

__global__ void sigmoid_rows_kernel(float* __restrict__ x, int64_t ld, int cols) {
  float* row = x + blockIdx.x * ld;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) row[c] = 1.f / (1.f + expf(-row[c]));
}

void check_shape(const char* op, int64_t ld, int64_t rows, int64_t cols) {
  if (rows < 0 || rows > 0x7fffffff || cols <= 0 || cols > 0x7fffffff || ld < cols)
    throw std::invalid_argument(std::string(op) + ": need 0 <= rows < 2^31 and 0 < cols <= ld");
}

}  // namespace

void softmax_rows(float* x, int64_t ld, int64_t rows, int64_t cols, cudaStream_t stream) {
  check_shape("softmax_rows", ld, rows, cols);
  if (rows == 0) return;
  softmax_rows_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, ld,
                                                                            static_cast<int>(cols));
  check_launch("softmax_rows_kernel", "softmax_rows");
}

void sigmoid_rows(float* x, int64_t ld, int64_t rows, int64_t cols, cudaStream_t stream) {
  check_shape("sigmoid_rows", ld, rows, cols);
  if (rows == 0) return;
  sigmoid_rows_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, ld,
                                                                            static_cast<int>(cols));
  check_launch("sigmoid_rows_kernel", "sigmoid_rows");
}

}  // namespace sluice::cuda
