// The device's dense matrix-product rate, measured rather than read off a
// datasheet: one large square GEMM through cuBLAS (fp16/bf16 operands, fp32
// accumulation) on random data, for the benchmarks' "fraction of peak".
// Plain C++; in builds without CUDA it throws std::runtime_error.
#pragma once
#include <string>

#include "kernels/cuda/dtype.h"

namespace sluice::cuda {

struct GemmPeak {
  double tflops = 0;     // 2·n³ / median time
  double median_ms = 0;  // one n×n×n product
  int n = 0;
  std::string device;
};

// Warms up, then times `iters` products with CUDA events; the median counts.
GemmPeak measure_gemm_peak(int device, DType dt, int n = 8192, int iters = 20);

}  // namespace sluice::cuda
