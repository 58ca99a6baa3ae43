// Per-sequence row selection and reduction after the encoder: each
// sequence's first-token row (the classifier head's input), the mean over a
// sequence's rows (mean pooling), and the widening of `dt` rows to the fp32
// that EncoderOutputs carries.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/dtype.h"

namespace sluice::cuda {

// out[s] = x[cu[s]] for s < num_seqs (`dt` rows of `cols`); an empty sequence
// gets a zero row. cu_seqlens: device int32 [num_seqs + 1].
void gather_first_rows(DType dt, const void* x, int64_t ld_x, const int32_t* cu_seqlens,
                       int64_t num_seqs, int64_t cols, void* out, int64_t ld_out,
                       cudaStream_t stream);

// out[s] = mean of rows [cu[s], cu[s+1]) of x, in fp32 (zeros for an empty sequence).
void mean_pool(DType dt, const void* x, int64_t ld_x, const int32_t* cu_seqlens, int64_t num_seqs,
               int64_t cols, float* out, int64_t ld_out, cudaStream_t stream);

// out[r][c] = float(x[r][c]).
void rows_to_f32(DType dt, const void* x, int64_t ld_x, int64_t rows, int64_t cols, float* out,
                 int64_t ld_out, cudaStream_t stream);

}  // namespace sluice::cuda
