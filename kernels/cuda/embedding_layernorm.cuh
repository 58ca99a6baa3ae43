// Embedding gather + sum + LayerNorm, the encoder's first op.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/dtype.h"

namespace sluice::cuda {

// out[t] = LayerNorm(word[ids[t]] + position[position_ids[t]] + type_row) for
// t in [0, tokens), out contiguous [tokens, hidden] of `dt`. word and position
// are `dt` tables [rows, hidden]; type_row (fp32, may be null), gamma, beta
// fp32 [hidden]. Every id must index a valid row (the backend checks batches
// first). Device pointers; enqueued on `stream`.
void embedding_layernorm(DType dt, const int32_t* ids, const int32_t* position_ids, int64_t tokens,
                         const void* word, const void* position, const float* type_row,
                         const float* gamma, const float* beta, float eps, int64_t hidden,
                         void* out, cudaStream_t stream);

}  // namespace sluice::cuda
