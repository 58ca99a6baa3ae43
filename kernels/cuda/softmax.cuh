// Row-wise softmax and logistic sigmoid over fp32 logits, in place (the
// post-processing of single- and multi-label classifiers, kept on the device
// for callers that want probabilities without a host pass).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace sluice::cuda {

// x[r] = softmax(x[r]) for r < rows (row stride ld, fp32, device memory).
void softmax_rows(float* x, int64_t ld, int64_t rows, int64_t cols, cudaStream_t stream);

// x[r][c] = 1 / (1 + exp(-x[r][c])).
void sigmoid_rows(float* x, int64_t ld, int64_t rows, int64_t cols, cudaStream_t stream);

}  // namespace sluice::cuda
