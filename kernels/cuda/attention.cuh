// Multi-head self-attention over a packed, padding-free batch (cu_seqlens),
// fused: softmax(Q·Kᵀ·scale)·V per sequence and head in one kernel, reading
// Q, K and V straight out of the QKV GEMM's output with its bias added on
// load (the "QKV split" costs no pass of its own).
//
// Two kernels: a tensor-core one (WMMA 16×16×16, fp32 accumulators, online
// softmax over 64-key tiles, any sequence length) for head_dim 16, 32 or 64,
// and a simple one (one warp per query, CUDA cores) for any head_dim ≤ 256,
// which also serves as a second reference in the tests.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/attention_kernel.h"
#include "kernels/cuda/dtype.h"

namespace sluice::cuda {

// qkv: `dt` [tokens, ld_qkv], row t = [Q | K | V], each num_heads × head_dim,
// heads contiguous; qkv_bias: fp32 [3 × num_heads × head_dim] or null.
// cu_seqlens: device int32 [num_seqs + 1]; sequence s is rows
// [cu[s], cu[s+1]) and attends only within itself; an empty sequence
// (cu[s+1] == cu[s]) is skipped. max_seqlen bounds every length (it sizes the
// grid). scale multiplies Q·K. out: `dt`, one row per token (out row t), or
// with first_token_only one row per sequence (out row s, only each sequence's
// first query computed). Throws std::invalid_argument for bad shapes or when
// kTensorCore is forced where it does not apply.
void attention(DType dt, const void* qkv, int64_t ld_qkv, const float* qkv_bias,
               const int32_t* cu_seqlens, int64_t num_seqs, int64_t max_seqlen, int64_t num_heads,
               int64_t head_dim, float scale, bool first_token_only, void* out, int64_t ld_out,
               cudaStream_t stream, AttentionKernel kernel = AttentionKernel::kAuto);

// Raises the tensor-core kernel's shared-memory limit on the current device
// for this head_dim (no-op when the kernel does not apply). attention() does it
// on first use; call it up front before capturing a CUDA graph.
void attention_prepare(DType dt, int64_t head_dim);

// Whether the tensor-core kernel takes these shapes and pointers (head_dim in
// {16, 32, 64}, 16-byte aligned rows).
bool tensor_core_attention_applies(int64_t head_dim, int64_t ld_qkv, const void* qkv);

namespace detail {
// attention_tc.cu: the tensor-core kernel's launcher (shapes already checked).
void prepare_attention_tc(DType dt, int64_t head_dim);
void launch_attention_tc(DType dt, const void* qkv, int64_t ld_qkv, const float* qkv_bias,
                         const int32_t* cu, int64_t num_seqs, int64_t max_seqlen, int64_t num_heads,
                         int64_t head_dim, float scale, bool first_token_only, void* out,
                         int64_t ld_out, cudaStream_t stream);
}  // namespace detail

}  // namespace sluice::cuda
