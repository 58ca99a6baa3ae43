// Add bias + residual, then LayerNorm: closes the attention block and the FFN
// block of every layer (the GEMM before it leaves its bias to this op).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/dtype.h"

namespace sluice::cuda {

// out[r] = LayerNorm(x[r] + bias + residual[r]) for r in [0, rows); x,
// residual, out are `dt` with row strides ld_* in elements; bias (may be
// null), gamma, beta fp32 [cols]; residual may be null. out may alias x or
// residual (each block reads its whole row before writing it).
void add_layernorm(DType dt, const void* x, int64_t ld_x, const float* bias, const void* residual,
                   int64_t ld_res, const float* gamma, const float* beta, float eps, int64_t rows,
                   int64_t cols, void* out, int64_t ld_out, cudaStream_t stream);

}  // namespace sluice::cuda
