#include "kernels/cuda/cuda_error.h"

namespace sluice::cuda {

void throw_cuda_error(cudaError_t err, const char* call, const char* op) {
  // Launch-configuration and argument errors are not sticky; clear them so a
  // caller that survives the exception starts clean. (Sticky errors such as
  // an illegal address stay: the context is unusable after them.)
  cudaGetLastError();
  const bool oom = err == cudaErrorMemoryAllocation;
  throw CudaError(std::string("CUDA error in ") + op + ": " + call + " returned " +
                      cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")",
                  oom);
}

const char* cublas_status_name(cublasStatus_t st) {
  switch (st) {
    case CUBLAS_STATUS_SUCCESS:
      return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:
      return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR:
      return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED:
      return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR:
      return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED:
      return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR:
      return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "unknown cuBLAS status";
}

void throw_cublas_error(cublasStatus_t st, const char* call, const char* op) {
  throw CudaError(std::string("cuBLAS error in ") + op + ": " + call + " returned " +
                      cublas_status_name(st) + " (" + std::to_string(static_cast<int>(st)) + ")",
                  st == CUBLAS_STATUS_ALLOC_FAILED);
}

}  // namespace sluice::cuda
