// Launcher of the pooling kernels (pooling_kernels.cuh).
#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_error.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/pooling.cuh"
#include "kernels/cuda/pooling_kernels.cuh"

namespace sluice::cuda {
namespace {

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
    SLUICE_LAUNCH(gather_first_rows_kernel<T>, static_cast<unsigned>(num_seqs), kPoolingThreads, 0,
                  stream, static_cast<const T*>(x), ld_x, cu_seqlens, static_cast<int>(cols),
                  static_cast<T*>(out), ld_out);
  });
  check_launch("gather_first_rows_kernel", "gather_first_rows");
}

void mean_pool(DType dt, const void* x, int64_t ld_x, const int32_t* cu_seqlens, int64_t num_seqs,
               int64_t cols, float* out, int64_t ld_out, cudaStream_t stream) {
  check_rows("mean_pool", num_seqs, cols, ld_x, ld_out);
  if (num_seqs == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    SLUICE_LAUNCH(mean_pool_kernel<T>, static_cast<unsigned>(num_seqs), kPoolingThreads, 0, stream,
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
    SLUICE_LAUNCH(rows_to_f32_kernel<T>, static_cast<unsigned>(rows), kPoolingThreads, 0, stream,
                  static_cast<const T*>(x), ld_x, static_cast<int>(cols), out, ld_out);
  });
  check_launch("rows_to_f32_kernel", "rows_to_f32");
}

}  // namespace sluice::cuda
