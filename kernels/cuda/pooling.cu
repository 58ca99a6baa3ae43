#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_error.h"
#include "kernels/cuda/device_common.cuh"
#include "kernels/cuda/pooling.cuh"

namespace sluice::cuda {
namespace {

constexpr int kThreads = 128;

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

void check_rows(const char* op, int64_t rows, int64_t cols, int64_t ld_x, int64_t ld_out) {
  if (rows < 0 || cols <= 0 || cols > 0x7fffffff || ld_x < cols || ld_out < cols ||
      rows > 0x7fffffff)
    throw std::invalid_argument(std::string(op) +
                                ": need 0 <= rows < 2^31 and 0 < cols <= each row stride");
}

}  // namespace

void gather_first_rows(DType dt, const void* x, int64_t ld_x, const int32_t* cu_seqlens,
                       int64_t num_seqs, int64_t cols, void* out, int64_t ld_out,
                       cudaStream_t stream) {
  check_rows("gather_first_rows", num_seqs, cols, ld_x, ld_out);
  if (num_seqs == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    gather_first_rows_kernel<T><<<static_cast<unsigned>(num_seqs), kThreads, 0, stream>>>(
        static_cast<const T*>(x), ld_x, cu_seqlens, static_cast<int>(cols), static_cast<T*>(out),
        ld_out);
  });
  check_launch("gather_first_rows_kernel", "gather_first_rows");
}

void mean_pool(DType dt, const void* x, int64_t ld_x, const int32_t* cu_seqlens, int64_t num_seqs,
               int64_t cols, float* out, int64_t ld_out, cudaStream_t stream) {
  check_rows("mean_pool", num_seqs, cols, ld_x, ld_out);
  if (num_seqs == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    mean_pool_kernel<T><<<static_cast<unsigned>(num_seqs), kThreads, 0, stream>>>(
        static_cast<const T*>(x), ld_x, cu_seqlens, static_cast<int>(cols), out, ld_out);
  });
  check_launch("mean_pool_kernel", "mean_pool");
}

void rows_to_f32(DType dt, const void* x, int64_t ld_x, int64_t rows, int64_t cols, float* out,
                 int64_t ld_out, cudaStream_t stream) {
  check_rows("rows_to_f32", rows, cols, ld_x, ld_out);
  if (rows == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    rows_to_f32_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
        static_cast<const T*>(x), ld_x, static_cast<int>(cols), out, ld_out);
  });
  check_launch("rows_to_f32_kernel", "rows_to_f32");
}

}  // namespace sluice::cuda
