// The pooling kernels (see pooling.cuh for the ops): each sequence's first
// row, the mean over a sequence's rows, and rows widened to fp32. One block
// per output row; threads stride over the columns. Kernel code only,
// included by pooling.cu (the launcher) and by the host emulation test.
#pragma once
#include "kernels/cuda/device_common.cuh"

namespace sluice::cuda {

constexpr int kPoolingThreads = 128;

// One block per sequence.
template <class T>
__global__ void gather_first_rows_kernel(const T* __restrict__ x, int64_t ld_x,
                                         const int32_t* __restrict__ cu, int cols,
                                         T* __restrict__ out, int64_t ld_out) {
  const int64_t s = blockIdx.x;
  const int first = cu[s];
  const bool empty = cu[s + 1] <= first;
  const T* src = x + static_cast<int64_t>(first) * ld_x;
  T* dst = out + s * ld_out;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) dst[c] = empty ? from_f32<T>(0.f) : src[c];
}

// One block per sequence; each thread owns columns and walks the rows.
template <class T>
__global__ void mean_pool_kernel(const T* __restrict__ x, int64_t ld_x,
                                 const int32_t* __restrict__ cu, int cols, float* __restrict__ out,
                                 int64_t ld_out) {
  const int64_t s = blockIdx.x;
  const int begin = cu[s];
  const int end = cu[s + 1];
  const float inv = end > begin ? 1.f / static_cast<float>(end - begin) : 0.f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    float acc = 0.f;
    for (int r = begin; r < end; ++r) acc += to_f32(x[static_cast<int64_t>(r) * ld_x + c]);
    out[s * ld_out + c] = acc * inv;
  }
}

// One block per row.
template <class T>
__global__ void rows_to_f32_kernel(const T* __restrict__ x, int64_t ld_x, int cols,
                                   float* __restrict__ out, int64_t ld_out) {
  const int64_t r = blockIdx.x;
  for (int c = threadIdx.x; c < cols; c += blockDim.x)
    out[r * ld_out + c] = to_f32(x[r * ld_x + c]);
}

}  // namespace sluice::cuda
