#include "kernels/cuda/gemm.h"

#include <climits>
#include <stdexcept>

#include "kernels/cuda/cuda_error.h"

namespace sluice::cuda {

void linear(cublasHandle_t handle, DType dt, const void* x, int64_t ld_x, const void* w, int64_t m,
            int64_t n, int64_t k, void* y, int64_t ld_y) {
  if (m < 0 || n <= 0 || k <= 0 || ld_x < k || ld_y < n)
    throw std::invalid_argument("linear: need m >= 0, n > 0, k > 0, ld_x >= k, ld_y >= n");
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX || ld_x > INT_MAX || ld_y > INT_MAX)
    throw std::invalid_argument("linear: a dimension is over cuBLAS's int range");
  if (m == 0) return;
  // cuBLAS is column-major: the row-major y [m, n] is yᵀ [n, m] column-major,
  // and yᵀ = w · xᵀ where w row-major [n, k] is column-major [k, n] (op T) and
  // x row-major [m, k] is column-major [k, m] (op N).
  const cudaDataType_t type = dt == DType::kF16 ? CUDA_R_16F : CUDA_R_16BF;
  const float alpha = 1.f, beta = 0.f;
  SLUICE_CUDA_CHECK(
      cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m),
                   static_cast<int>(k), &alpha, w, type, static_cast<int>(k), x, type,
                   static_cast<int>(ld_x), &beta, y, type, static_cast<int>(ld_y),
                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      "linear (GEMM)");
}

}  // namespace sluice::cuda
