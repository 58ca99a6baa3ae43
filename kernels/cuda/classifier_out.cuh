// The classifier's last linear layer, written straight as fp32 logits:
// few outputs (num_labels), so a warp per output beats a GEMM launch, and
// the weights stay fp32 so the logits lose nothing past the pooled vector.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/dtype.h"

namespace sluice::cuda {

// out[r][j] = bias[j] + Σ_c x[r][c] · w[j][c] for r < rows, j < labels, in
// fp32. x: `dt` [rows, ld_x]; w: fp32 [labels, cols] contiguous; bias: fp32
// [labels] or null; out: fp32 [rows, labels] contiguous.
void classifier_out(DType dt, const void* x, int64_t ld_x, const float* w, const float* bias,
                    int64_t rows, int64_t labels, int64_t cols, float* out, cudaStream_t stream);

}  // namespace sluice::cuda
