// CUDA and cuBLAS status codes translated into sluice's error type at the
// module boundary (STYLE.md): every runtime/cuBLAS call in kernels/cuda goes
// through check(), which throws CudaError naming the call, the operation it
// served and the code. Internal header (includes CUDA headers): only for
// files under kernels/cuda.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace sluice::cuda {

class CudaError : public std::runtime_error {
 public:
  CudaError(const std::string& what, bool out_of_memory)
      : std::runtime_error(what), out_of_memory_(out_of_memory) {}
  bool out_of_memory() const { return out_of_memory_; }

 private:
  bool out_of_memory_;
};

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* op);
[[noreturn]] void throw_cublas_error(cublasStatus_t st, const char* call, const char* op);
const char* cublas_status_name(cublasStatus_t st);

inline void check(cudaError_t err, const char* call, const char* op) {
  if (err != cudaSuccess) throw_cuda_error(err, call, op);
}
inline void check(cublasStatus_t st, const char* call, const char* op) {
  if (st != CUBLAS_STATUS_SUCCESS) throw_cublas_error(st, call, op);
}

// After a kernel launch: configuration errors surface here at once, faults
// inside the kernel at the next synchronising call (the completion thread).
inline void check_launch(const char* kernel, const char* op) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw_cuda_error(err, kernel, op);
}

}  // namespace sluice::cuda

// SLUICE_CUDA_CHECK(cudaMalloc(&p, n), "workspace"): the call's text goes into the message.
#define SLUICE_CUDA_CHECK(call, op) ::sluice::cuda::check((call), #call, (op))
