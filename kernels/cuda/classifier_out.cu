#include <stdexcept>

#include "kernels/cuda/classifier_out.cuh"
#include "kernels/cuda/cuda_error.h"
#include "kernels/cuda/device_common.cuh"

namespace sluice::cuda {
namespace {

constexpr int kWarps = 4;

// One warp per (row, label).
template <class T>
__global__ void classifier_out_kernel(const T* __restrict__ x, int64_t ld_x,
                                      const float* __restrict__ w, const float* __restrict__ bias,
                                      int64_t rows, int labels, int cols, float* __restrict__ out) {
  const int64_t item = blockIdx.x * static_cast<int64_t>(kWarps) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (item >= rows * labels) return;
  const int64_t r = item / labels;
  const int j = static_cast<int>(item % labels);
  const T* xr = x + r * ld_x;
  const float* wj = w + static_cast<int64_t>(j) * cols;
  float acc = 0.f;
  for (int c = lane; c < cols; c += 32) acc += to_f32(xr[c]) * wj[c];
  acc = warp_sum(acc);
  if (lane == 0) out[item] = acc + (bias ? bias[j] : 0.f);
}

}  // namespace

void classifier_out(DType dt, const void* x, int64_t ld_x, const float* w, const float* bias,
                    int64_t rows, int64_t labels, int64_t cols, float* out, cudaStream_t stream) {
  if (rows < 0 || labels <= 0 || cols <= 0 || ld_x < cols || labels > 0x7fffffff ||
      cols > 0x7fffffff)
    throw std::invalid_argument("classifier_out: need rows >= 0, labels > 0, 0 < cols <= ld_x");
  const int64_t items = rows * labels;
  if ((items + kWarps - 1) / kWarps > 0x7fffffff)
    throw std::invalid_argument("classifier_out: too many outputs");
  if (items == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    classifier_out_kernel<T><<<ceil_div(items, kWarps), 32 * kWarps, 0, stream>>>(
        static_cast<const T*>(x), ld_x, w, bias, rows, static_cast<int>(labels),
        static_cast<int>(cols), out);
  });
  check_launch("classifier_out_kernel", "classifier_out");
}

}  // namespace sluice::cuda
