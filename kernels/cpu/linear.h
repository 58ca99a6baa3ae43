// A fully-connected layer y = act(x·Wᵀ + b) on the CPU, through oneDNN's
// matmul with the weights packed once into its preferred blocked layout.
//
// Why oneDNN (measured on this project's shapes, Sapphire Rapids, 2 threads,
// M = packed tokens): with pre-packed weights it reached 200–270 GFLOP/s at
// M = 16 where OpenBLAS sgemm reached 80–90, and 270–300 vs 180–260 at
// M = 128…1024. The primitive is created once per layer with a run-time M, so
// any packed batch size reuses it without re-creating anything.
//
// Threading: run() uses the calling thread's OpenMP team (parallel.h). One
// Linear must not run on two threads at once (its scratchpad is shared);
// distinct Linears may.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "src/engine/activation.h"

namespace sluice::cpu {

class Linear {
 public:
  Linear();
  // weight: [out_features, in_features] row-major (PyTorch layout); bias:
  // [out_features] or null. Both are copied; the caller may free them after.
  // fused_act runs inside the GEMM (oneDNN post-op) when not kIdentity.
  Linear(const float* weight, const float* bias, int64_t out_features, int64_t in_features,
         engine::Activation fused_act = engine::Activation::kIdentity);
  Linear(Linear&&) noexcept;
  Linear& operator=(Linear&&) noexcept;
  ~Linear();

  // y[r] = act(x[r]·Wᵀ + b) for r in [0, rows). Blocks until done.
  void run(const float* x, int64_t ld_x, int64_t rows, float* y, int64_t ld_y) const;

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  bool empty() const { return impl_ == nullptr; }
  // Bytes held: packed weights, bias and scratch.
  std::size_t bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t in_ = 0;
  int64_t out_ = 0;
};

// "oneDNN 2.6.3 (avx512_core_amx)": version and the widest ISA it dispatches to.
const char* gemm_library_description();

}  // namespace sluice::cpu
