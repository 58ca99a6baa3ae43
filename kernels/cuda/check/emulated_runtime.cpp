// Host stand-ins for the CUDA runtime and cuBLAS calls of the encoder path
// (CudaEncoder, the op launchers, handles.h), for cuda_emulated_encoder_test
// only: with them and the launchers compiled against host_emulation.h the
// real encoder orchestration runs on the CPU. Same signatures as the
// toolkit's headers; the real cudart/cublas are not linked.
//
// "Device" memory is 256-byte aligned host memory (as cudaMalloc's) with a
// canary after the end that cudaFree checks, so a kernel or copy writing past
// a buffer (a wrong workspace carve, a wrong stride) aborts. Streams are
// ignored: every launch and copy is synchronous. cublasGemmEx is a plain
// loop with cuBLAS's column-major semantics (op N/T, lda/ldb/ldc checked as
// cuBLAS checks them), fp16/bf16 operands, fp32 accumulation and alpha/beta.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

struct cublasContext {
  cudaStream_t stream = nullptr;
};

namespace {

constexpr std::size_t kCanaryBytes = 256;
constexpr unsigned char kCanary = 0xA5;

std::map<void*, std::size_t>& allocations() {
  static std::map<void*, std::size_t> m;
  return m;
}

[[noreturn]] void fault(const char* what) {
  std::fprintf(stderr, "emulated runtime: %s\n", what);
  std::abort();
}

float load(const void* p, cudaDataType t, std::size_t i) {
  if (t == CUDA_R_16F) return __half2float(static_cast<const __half*>(p)[i]);
  return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
}

void store(void* p, cudaDataType t, std::size_t i, float v) {
  if (t == CUDA_R_16F)
    static_cast<__half*>(p)[i] = __float2half_rn(v);
  else
    static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v);
}

}  // namespace

extern "C" {

cudaError_t CUDARTAPI cudaMalloc(void** devPtr, size_t size) {
  const std::size_t bytes = (size + kCanaryBytes + 255) / 256 * 256;
  auto* p = static_cast<unsigned char*>(std::aligned_alloc(256, bytes));
  if (!p) return cudaErrorMemoryAllocation;
  std::memset(p, 0xCD, size);  // uninitialised device memory is not zero
  std::memset(p + size, kCanary, bytes - size);
  allocations()[p] = size;
  *devPtr = p;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaFree(void* devPtr) {
  if (!devPtr) return cudaSuccess;
  auto it = allocations().find(devPtr);
  if (it == allocations().end()) fault("cudaFree of a pointer cudaMalloc did not return");
  const auto* p = static_cast<const unsigned char*>(devPtr);
  for (std::size_t i = 0; i < kCanaryBytes; ++i)
    if (p[it->second + i] != kCanary)
      fault("a write past the end of a device buffer (canary overwritten)");
  allocations().erase(it);
  std::free(devPtr);
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaMemcpy(void* dst, const void* src, size_t count, enum cudaMemcpyKind) {
  std::memcpy(dst, src, count);
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaMemcpyAsync(void* dst, const void* src, size_t count, enum cudaMemcpyKind,
                                      cudaStream_t) {
  std::memcpy(dst, src, count);
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaMemsetAsync(void* devPtr, int value, size_t count, cudaStream_t) {
  std::memset(devPtr, value, count);
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }

cudaError_t CUDARTAPI cudaGetLastError(void) { return cudaSuccess; }

cudaError_t CUDARTAPI cudaPeekAtLastError(void) { return cudaSuccess; }

cudaError_t CUDARTAPI cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaFuncSetAttribute(const void* func, enum cudaFuncAttribute attr,
                                           int value) {
  // sm_80's opt-in limit (163 KB) is the smallest of the supported devices.
  if (!func || attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
      value > 163 * 1024)
    return cudaErrorInvalidValue;
  return cudaSuccess;
}

const char* CUDARTAPI cudaGetErrorName(cudaError_t error) {
  return error == cudaSuccess ? "cudaSuccess" : "cudaError (emulated)";
}

const char* CUDARTAPI cudaGetErrorString(cudaError_t error) {
  return error == cudaSuccess ? "no error" : "error (emulated runtime)";
}

cublasStatus_t CUBLASWINAPI cublasCreate_v2(cublasHandle_t* handle) {
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasDestroy_v2(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId) {
  handle->stream = streamId;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSetWorkspace_v2(cublasHandle_t, void*, size_t) {
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI cublasSetMathMode(cublasHandle_t, cublasMath_t) {
  return CUBLAS_STATUS_SUCCESS;
}

// C[m, n] = alpha · op(A)[m, k] · op(B)[k, n] + beta · C, all column-major.
cublasStatus_t CUBLASWINAPI cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                                         cublasOperation_t transb, int m, int n, int k,
                                         const void* alpha, const void* A, cudaDataType Atype,
                                         int lda, const void* B, cudaDataType Btype, int ldb,
                                         const void* beta, void* C, cudaDataType Ctype, int ldc,
                                         cublasComputeType_t computeType, cublasGemmAlgo_t) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  const bool ta = transa == CUBLAS_OP_T, tb = transb == CUBLAS_OP_T;
  if ((!ta && transa != CUBLAS_OP_N) || (!tb && transb != CUBLAS_OP_N))
    return CUBLAS_STATUS_NOT_SUPPORTED;
  if (m < 0 || n < 0 || k < 0 || lda < std::max(1, ta ? k : m) || ldb < std::max(1, tb ? n : k) ||
      ldc < std::max(1, m))
    return CUBLAS_STATUS_INVALID_VALUE;
  const auto dt_ok = [](cudaDataType t) { return t == CUDA_R_16F || t == CUDA_R_16BF; };
  if (!dt_ok(Atype) || Btype != Atype || Ctype != Atype || computeType != CUBLAS_COMPUTE_32F)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
  std::vector<float> col(static_cast<std::size_t>(k));
  for (int j = 0; j < n; ++j) {
    for (int p = 0; p < k; ++p)  // op(B)[:, j]
      col[p] =
          load(B, Btype,
               tb ? j + static_cast<std::size_t>(p) * ldb : p + static_cast<std::size_t>(j) * ldb);
    for (int i = 0; i < m; ++i) {
      float acc = 0.f;
      for (int p = 0; p < k; ++p)
        acc += load(A, Atype,
                    ta ? p + static_cast<std::size_t>(i) * lda
                       : i + static_cast<std::size_t>(p) * lda) *
               col[p];
      const std::size_t c = i + static_cast<std::size_t>(j) * ldc;
      // beta == 0: C is not read (it may hold NaNs), as in cuBLAS.
      store(C, Ctype, c, b == 0.f ? a * acc : a * acc + b * load(C, Ctype, c));
    }
  }
  return CUBLAS_STATUS_SUCCESS;
}

}  // extern "C"
