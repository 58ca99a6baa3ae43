// RAII owners for the CUDA runtime's handles (STYLE.md: a wrapper for every C
// handle): device selection, streams, events, device and pinned host memory,
// cuBLAS handles. Move-only; constructors throw CudaError naming what the
// resource was for; destructors never throw (a failing release during
// teardown has nothing left to report to). Internal header: kernels/cuda only.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <utility>

#include "kernels/cuda/cuda_error.h"

namespace sluice::cuda {

// Makes `device` current on this thread for the scope, then restores the
// previous one (callers on the infer thread may use another device).
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    SLUICE_CUDA_CHECK(cudaGetDevice(&previous_), "select device");
    if (previous_ != device)
      SLUICE_CUDA_CHECK(cudaSetDevice(device), "select device");
    else
      previous_ = -1;
  }
  ~DeviceGuard() {
    if (previous_ >= 0) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

class Stream {
 public:
  Stream() = default;
  explicit Stream(const char* what) {
    // Non-blocking: no implicit synchronisation with the legacy default stream.
    SLUICE_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking), what);
  }
  ~Stream() {
    if (s_) cudaStreamDestroy(s_);
  }
  Stream(Stream&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Stream& operator=(Stream&& o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

class Event {
 public:
  Event() = default;
  Event(unsigned flags, const char* what) {
    SLUICE_CUDA_CHECK(cudaEventCreateWithFlags(&e_, flags), what);
  }
  ~Event() {
    if (e_) cudaEventDestroy(e_);
  }
  Event(Event&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  Event& operator=(Event&& o) noexcept {
    std::swap(e_, o.e_);
    return *this;
  }
  cudaEvent_t get() const { return e_; }

 private:
  cudaEvent_t e_ = nullptr;
};

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(std::size_t bytes, const char* what) : bytes_(bytes) {
    if (bytes) SLUICE_CUDA_CHECK(cudaMalloc(&p_, bytes), what);
  }
  ~DeviceBuffer() {
    if (p_) cudaFree(p_);
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  template <class T = void>
  T* get() const {
    return static_cast<T*>(p_);
  }
  std::size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  std::size_t bytes_ = 0;
};

// Page-locked host memory: the only kind cudaMemcpyAsync copies without
// blocking the calling thread.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  PinnedBuffer(std::size_t bytes, const char* what) : bytes_(bytes) {
    if (bytes) SLUICE_CUDA_CHECK(cudaHostAlloc(&p_, bytes, cudaHostAllocPortable), what);
  }
  ~PinnedBuffer() {
    if (p_) cudaFreeHost(p_);
  }
  PinnedBuffer(PinnedBuffer&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  template <class T = void>
  T* get() const {
    return static_cast<T*>(p_);
  }
  std::size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  std::size_t bytes_ = 0;
};

// A cuBLAS handle bound to one stream with its own workspace: what graph
// capture needs (no allocation inside a capture) and what keeps results
// bit-reproducible when several handles run concurrently.
class CublasHandle {
 public:
  static constexpr std::size_t kWorkspaceBytes = 32u << 20;  // NVIDIA's advice for Hopper

  CublasHandle() = default;
  CublasHandle(cudaStream_t stream, const char* what) {
    SLUICE_CUDA_CHECK(cublasCreate(&h_), what);
    try {
      workspace_ = DeviceBuffer(kWorkspaceBytes, what);
      SLUICE_CUDA_CHECK(cublasSetStream(h_, stream), what);
      SLUICE_CUDA_CHECK(cublasSetWorkspace(h_, workspace_.get(), workspace_.bytes()), what);
      SLUICE_CUDA_CHECK(cublasSetMathMode(h_, CUBLAS_DEFAULT_MATH), what);
    } catch (...) {
      cublasDestroy(h_);
      throw;
    }
  }
  ~CublasHandle() {
    if (h_) cublasDestroy(h_);
  }
  CublasHandle(CublasHandle&& o) noexcept
      : h_(std::exchange(o.h_, nullptr)), workspace_(std::move(o.workspace_)) {}
  CublasHandle& operator=(CublasHandle&& o) noexcept {
    std::swap(h_, o.h_);
    std::swap(workspace_, o.workspace_);
    return *this;
  }
  cublasHandle_t get() const { return h_; }

 private:
  cublasHandle_t h_ = nullptr;
  DeviceBuffer workspace_;
};

}  // namespace sluice::cuda

namespace sluice::cuda {

// An instantiated CUDA graph (the captured forward of one batch shape).
class GraphExec {
 public:
  GraphExec() = default;
  explicit GraphExec(cudaGraphExec_t e) : e_(e) {}
  ~GraphExec() {
    if (e_) cudaGraphExecDestroy(e_);
  }
  GraphExec(GraphExec&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  GraphExec& operator=(GraphExec&& o) noexcept {
    std::swap(e_, o.e_);
    return *this;
  }
  cudaGraphExec_t get() const { return e_; }
  explicit operator bool() const { return e_ != nullptr; }

 private:
  cudaGraphExec_t e_ = nullptr;
};

}  // namespace sluice::cuda
