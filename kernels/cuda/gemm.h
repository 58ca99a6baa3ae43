// The encoder's matrix products through cuBLAS: y = x · wᵀ (torch.nn.Linear
// layout, no bias: biases are fused into the next op: attention's loads,
// add_layernorm, bias_activation), fp16/bf16 operands on the tensor cores
// with fp32 accumulation. Internal header (cuBLAS types): kernels/cuda only.
#pragma once
#include <cublas_v2.h>

#include <cstdint>

#include "kernels/cuda/dtype.h"

namespace sluice::cuda {

// y[m, n] = x[m, k] · w[n, k]ᵀ; x, w, y of `dt`, row-major, x and y with row
// strides ld_x, ld_y (elements), w contiguous. Enqueued on the handle's
// stream. Throws std::invalid_argument for bad shapes, CudaError when cuBLAS
// refuses.
void linear(cublasHandle_t handle, DType dt, const void* x, int64_t ld_x, const void* w, int64_t m,
            int64_t n, int64_t k, void* y, int64_t ld_y);

}  // namespace sluice::cuda
