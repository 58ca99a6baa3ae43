// Add bias, then the activation, in place: the FFN's bias + GELU after its
// first GEMM, and the classifier head's bias + tanh/relu.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/dtype.h"
#include "src/engine/activation.h"

namespace sluice::cuda {

// x[r][c] = act(x[r][c] + bias[c]) for r < rows, c < cols; x is `dt` with row
// stride ld (elements), bias fp32 [cols] or null. Computed in fp32.
void bias_activation(DType dt, void* x, int64_t ld, int64_t rows, int64_t cols, const float* bias,
                     engine::Activation act, cudaStream_t stream);

}  // namespace sluice::cuda
