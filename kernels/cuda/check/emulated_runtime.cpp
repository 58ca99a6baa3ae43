// Host stand-ins for the CUDA runtime and cuBLAS calls of the encoder and
// backend paths (CudaEncoder, CudaBackend, the op launchers, handles.h), for
// the emulation tests only: with them and the launchers compiled against
// host_emulation.h the real encoder and backend orchestration run on the
// CPU. Same signatures as the toolkit's headers; the real cudart/cublas are
// not linked.
//
// "Device" memory is 256-byte aligned host memory (as cudaMalloc's) with a
// canary after the end that cudaFree checks, so a kernel or copy writing past
// a buffer (a wrong workspace carve, a wrong stride) aborts; pinned host
// memory (cudaHostAlloc) likewise. One device (emulated_runtime.h sets its
// compute capability and memory). Work on a stream runs synchronously when
// enqueued, so every stream is idle and every recorded event complete when
// the enqueueing call returns; that keeps CUDA's ordering guarantees (work in
// a stream runs in order, an event completes after the work before it).
// While a stream captures a CUDA graph (host_emulation.h: emu::capturing),
// launches, async copies and memsets, event records and cuBLAS calls on it
// are recorded; a graph launch replays them; calls CUDA forbids during a
// capture (synchronisation, allocation) fail and invalidate it.
// cublasGemmEx is a plain loop with cuBLAS's column-major semantics (op N/T,
// lda/ldb/ldc checked as cuBLAS checks them), fp16/bf16/fp32 operands, fp32
// accumulation and alpha/beta (read when called, as graph capture does).
#include "kernels/cuda/check/host_emulation.h"
// (the emulation first)
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "kernels/cuda/check/emulated_runtime.h"

struct cublasContext {
  cudaStream_t stream = nullptr;
};
struct CUstream_st {
  unsigned flags = 0;
};
struct CUevent_st {
  unsigned flags = 0;
  bool recorded = false;
  std::chrono::steady_clock::time_point at{};
};
struct CUgraph_st {
  std::vector<std::function<void()>> work;
};
struct CUgraphExec_st {
  std::vector<std::function<void()>> work;
};

namespace {

namespace emu = sluice::cuda::emu;

[[noreturn]] void fault(const char* what) {
  std::fprintf(stderr, "emulated runtime: %s\n", what);
  std::abort();
}

constexpr std::size_t kCanaryBytes = 256;
constexpr unsigned char kCanary = 0xA5;

// The completion thread frees nothing and allocates nothing, but a backend's
// destructor may run on any thread: the books are locked.
std::mutex& books_mu() {
  static std::mutex m;
  return m;
}
std::map<void*, std::size_t>& allocations() {
  static std::map<void*, std::size_t> m;
  return m;
}
std::map<void*, std::size_t>& host_allocations() {
  static std::map<void*, std::size_t> m;
  return m;
}
emu::LiveObjects& live() {
  static emu::LiveObjects l;
  return l;
}
thread_local int current_device = 0;
// Whether a forbidden call has invalidated this thread's capture
// (emu::capturing: cudaStreamCaptureModeThreadLocal).
thread_local bool capture_invalidated = false;

// A call CUDA forbids while this thread captures: fails and invalidates it.
bool forbidden_in_capture() {
  if (!emu::capturing) return false;
  capture_invalidated = true;
  return true;
}

void* alloc_with_canary(std::size_t size, std::map<void*, std::size_t>& books) {
  const std::size_t bytes = (size + kCanaryBytes + 255) / 256 * 256;
  auto* p = static_cast<unsigned char*>(std::aligned_alloc(256, bytes));
  if (!p) return nullptr;
  std::memset(p, 0xCD, size);  // uninitialised memory is not zero
  std::memset(p + size, kCanary, bytes - size);
  std::lock_guard lock(books_mu());
  books[p] = size;
  return p;
}

// Returns the size freed.
std::size_t free_with_canary(void* ptr, std::map<void*, std::size_t>& books, const char* not_ours) {
  std::size_t size = 0;
  {
    std::lock_guard lock(books_mu());
    auto it = books.find(ptr);
    if (it == books.end()) fault(not_ours);
    size = it->second;
    books.erase(it);
  }
  const auto* p = static_cast<const unsigned char*>(ptr);
  for (std::size_t i = 0; i < kCanaryBytes; ++i)
    if (p[size + i] != kCanary) fault("a write past the end of a buffer (canary overwritten)");
  std::free(ptr);
  return size;
}

float load(const void* p, cudaDataType t, std::size_t i) {
  if (t == CUDA_R_32F) return static_cast<const float*>(p)[i];
  if (t == CUDA_R_16F) return __half2float(static_cast<const __half*>(p)[i]);
  return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
}

void store(void* p, cudaDataType t, std::size_t i, float v) {
  if (t == CUDA_R_32F)
    static_cast<float*>(p)[i] = v;
  else if (t == CUDA_R_16F)
    static_cast<__half*>(p)[i] = __float2half_rn(v);
  else
    static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v);
}

void gemm(bool ta, bool tb, int m, int n, int k, float a, const void* A, int lda, const void* B,
          int ldb, float b, void* C, int ldc, cudaDataType type);

}  // namespace

extern "C" {

cudaError_t CUDARTAPI cudaMalloc(void** devPtr, size_t size) {
  if (forbidden_in_capture()) return cudaErrorStreamCaptureUnsupported;
  {
    std::lock_guard lock(books_mu());
    if (live().device_bytes + size > emu::emulated_device().total_bytes)
      return cudaErrorMemoryAllocation;
  }
  void* p = alloc_with_canary(size, allocations());
  if (!p) return cudaErrorMemoryAllocation;
  {
    std::lock_guard lock(books_mu());
    live().device_bytes += size;
  }
  *devPtr = p;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaFree(void* devPtr) {
  if (!devPtr) return cudaSuccess;
  if (forbidden_in_capture()) return cudaErrorStreamCaptureUnsupported;
  const std::size_t size =
      free_with_canary(devPtr, allocations(), "cudaFree of a pointer cudaMalloc did not return");
  std::lock_guard lock(books_mu());
  live().device_bytes -= size;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaHostAlloc(void** pHost, size_t size, unsigned int) {
  if (forbidden_in_capture()) return cudaErrorStreamCaptureUnsupported;
  *pHost = alloc_with_canary(size, host_allocations());
  return *pHost ? cudaSuccess : cudaErrorMemoryAllocation;
}

cudaError_t CUDARTAPI cudaMallocHost(void** ptr, size_t size) {
  return cudaHostAlloc(ptr, size, 0);
}

cudaError_t CUDARTAPI cudaFreeHost(void* ptr) {
  if (!ptr) return cudaSuccess;
  if (forbidden_in_capture()) return cudaErrorStreamCaptureUnsupported;
  free_with_canary(ptr, host_allocations(),
                   "cudaFreeHost of a pointer cudaHostAlloc did not return");
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaMemGetInfo(size_t* free, size_t* total) {
  std::lock_guard lock(books_mu());
  *total = emu::emulated_device().total_bytes;
  *free = *total - std::min(*total, live().device_bytes);
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaMemcpy(void* dst, const void* src, size_t count, enum cudaMemcpyKind) {
  if (forbidden_in_capture()) return cudaErrorStreamCaptureUnsupported;  // the legacy stream syncs
  std::memcpy(dst, src, count);
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaMemcpyAsync(void* dst, const void* src, size_t count, enum cudaMemcpyKind,
                                      cudaStream_t stream) {
  emu::run_on(stream, [=] { std::memcpy(dst, src, count); });
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaMemsetAsync(void* devPtr, int value, size_t count, cudaStream_t stream) {
  emu::run_on(stream, [=] { std::memset(devPtr, value, count); });
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaStreamSynchronize(cudaStream_t stream) {
  if (emu::capturing && emu::capturing->stream == stream) {
    capture_invalidated = true;
    return cudaErrorStreamCaptureUnsupported;
  }
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaDeviceSynchronize(void) {
  if (forbidden_in_capture()) return cudaErrorStreamCaptureUnsupported;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaStreamCreateWithFlags(cudaStream_t* pStream, unsigned int flags) {
  *pStream = new CUstream_st{flags};
  std::lock_guard lock(books_mu());
  ++live().streams;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaStreamDestroy(cudaStream_t stream) {
  if (!stream) return cudaErrorInvalidResourceHandle;
  if (emu::capturing && emu::capturing->stream == stream)
    fault("cudaStreamDestroy of a capturing stream");
  delete stream;
  std::lock_guard lock(books_mu());
  --live().streams;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  *event = new CUevent_st{flags};
  std::lock_guard lock(books_mu());
  ++live().events;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaEventDestroy(cudaEvent_t event) {
  if (!event) return cudaErrorInvalidResourceHandle;
  delete event;
  std::lock_guard lock(books_mu());
  --live().events;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!event) return cudaErrorInvalidResourceHandle;
  emu::run_on(stream, [event] {
    std::lock_guard lock(books_mu());
    event->recorded = true;
    event->at = std::chrono::steady_clock::now();
  });
  return cudaSuccess;
}

// Work runs when enqueued, so a recorded event (or one never recorded, as in
// CUDA) is complete.
cudaError_t CUDARTAPI cudaEventQuery(cudaEvent_t event) {
  return event ? cudaSuccess : cudaErrorInvalidResourceHandle;
}

cudaError_t CUDARTAPI cudaEventSynchronize(cudaEvent_t event) {
  return event ? cudaSuccess : cudaErrorInvalidResourceHandle;
}

cudaError_t CUDARTAPI cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!start || !end) return cudaErrorInvalidResourceHandle;
  std::lock_guard lock(books_mu());
  if ((start->flags | end->flags) & cudaEventDisableTiming) return cudaErrorInvalidResourceHandle;
  if (!start->recorded || !end->recorded) return cudaErrorInvalidResourceHandle;
  *ms = std::chrono::duration<float, std::milli>(end->at - start->at).count();
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaStreamBeginCapture(cudaStream_t stream, enum cudaStreamCaptureMode mode) {
  if (!stream) return cudaErrorStreamCaptureUnsupported;  // not the legacy stream
  if (emu::capturing) return cudaErrorIllegalState;
  if (mode != cudaStreamCaptureModeThreadLocal) fault("only thread-local capture is emulated");
  emu::capturing = new emu::Capture{stream, {}};
  capture_invalidated = false;
  std::lock_guard lock(books_mu());
  ++live().captures;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* pGraph) {
  if (!emu::capturing || emu::capturing->stream != stream) return cudaErrorIllegalState;
  std::unique_ptr<emu::Capture> c(emu::capturing);
  emu::capturing = nullptr;
  if (capture_invalidated) {
    *pGraph = nullptr;
    return cudaErrorStreamCaptureInvalidated;
  }
  *pGraph = new CUgraph_st{std::move(c->work)};
  std::lock_guard lock(books_mu());
  ++live().graphs;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaStreamIsCapturing(cudaStream_t stream,
                                            enum cudaStreamCaptureStatus* status) {
  *status = emu::capturing && emu::capturing->stream == stream ? cudaStreamCaptureStatusActive
                                                               : cudaStreamCaptureStatusNone;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaGraphInstantiate(cudaGraphExec_t* pGraphExec, cudaGraph_t graph,
                                           unsigned long long) {
  if (!graph) return cudaErrorInvalidValue;
  *pGraphExec = new CUgraphExec_st{graph->work};  // the graph may be destroyed now
  std::lock_guard lock(books_mu());
  ++live().graph_execs;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaGraphDestroy(cudaGraph_t graph) {
  if (!graph) return cudaErrorInvalidValue;
  delete graph;
  std::lock_guard lock(books_mu());
  --live().graphs;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaGraphExecDestroy(cudaGraphExec_t exec) {
  if (!exec) return cudaErrorInvalidValue;
  delete exec;
  std::lock_guard lock(books_mu());
  --live().graph_execs;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (!exec) return cudaErrorInvalidValue;
  emu::run_on(stream, [exec] {
    for (const auto& w : exec->work) w();
  });
  std::lock_guard lock(books_mu());
  ++live().graph_launches;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaLaunchHostFunc(cudaStream_t stream, cudaHostFn_t fn, void* userData) {
  emu::run_on(stream, [=] { fn(userData); });  // after the work before it, as in CUDA
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaGetDeviceCount(int* count) {
  *count = emu::emulated_device().count;
  return *count > 0 ? cudaSuccess : cudaErrorNoDevice;
}

cudaError_t CUDARTAPI cudaSetDevice(int device) {
  if (device < 0 || device >= emu::emulated_device().count) return cudaErrorInvalidDevice;
  current_device = device;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaGetDeviceProperties(struct cudaDeviceProp* prop, int device) {
  if (device < 0 || device >= emu::emulated_device().count) return cudaErrorInvalidDevice;
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "host emulation");
  prop->major = emu::emulated_device().major;
  prop->minor = emu::emulated_device().minor;
  prop->multiProcessorCount = 2;
  prop->totalGlobalMem = emu::emulated_device().total_bytes;
  prop->warpSize = 32;
  prop->sharedMemPerBlockOptin = 163 * 1024;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaRuntimeGetVersion(int* runtimeVersion) {
  *runtimeVersion = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaDriverGetVersion(int* driverVersion) {
  *driverVersion = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaGetLastError(void) { return cudaSuccess; }

cudaError_t CUDARTAPI cudaPeekAtLastError(void) { return cudaSuccess; }

cudaError_t CUDARTAPI cudaGetDevice(int* device) {
  *device = current_device;
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
  // fp16/bf16 (the encoder) and fp32 (the recommend scorer) operands.
  const auto dt_ok = [](cudaDataType t) {
    return t == CUDA_R_16F || t == CUDA_R_16BF || t == CUDA_R_32F;
  };
  if (!dt_ok(Atype) || Btype != Atype || Ctype != Atype || computeType != CUBLAS_COMPUTE_32F)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
  emu::run_on(handle->stream, [=] { gemm(ta, tb, m, n, k, a, A, lda, B, ldb, b, C, ldc, Atype); });
  return CUBLAS_STATUS_SUCCESS;
}

}  // extern "C"

namespace {

void gemm(bool ta, bool tb, int m, int n, int k, float a, const void* A, int lda, const void* B,
          int ldb, float b, void* C, int ldc, cudaDataType type) {
  const cudaDataType Atype = type, Btype = type, Ctype = type;
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
}

}  // namespace

namespace sluice::cuda::emu {

EmulatedDevice& emulated_device() {
  static EmulatedDevice d;
  return d;
}

LiveObjects live_objects() {
  std::lock_guard lock(books_mu());
  LiveObjects l = live();
  l.device_allocations = allocations().size();
  l.host_allocations = host_allocations().size();
  return l;
}

}  // namespace sluice::cuda::emu
