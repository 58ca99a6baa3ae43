// The CPU backend's operations, each callable on its own: they make up the
// encoder forward (cpu_backend.cpp) and are the reference the CUDA ops are
// tested against (ggml test-backend-ops style).
//
// Conventions: row-major fp32; `ld*` are row strides in floats; every pointer
// is caller-owned and must stay valid for the call. Each op splits its rows
// over the calling thread's team (parallel.h) and returns when done. The SIMD
// path (AVX-512, AVX2 or scalar) is chosen once from CPUID; SLUICE_CPU_ISA
// (avx512|avx2|scalar) in the environment, or set_isa(), forces a narrower one.
#pragma once
#include <cstdint>

#include "src/engine/activation.h"

namespace sluice::cpu {

using engine::Activation;

enum class Isa : uint8_t { kScalar, kAvx2, kAvx512 };

const char* isa_name(Isa isa);
// The widest path this CPU (and build) supports.
Isa detected_isa();
// The path the ops use now.
Isa active_isa();
// Forces a path for this process (tests compare paths); clamps to detected_isa().
void set_isa(Isa isa);

// out[t] = LayerNorm(word[ids[t]] + position[position_ids[t]] + type_row)
// for t in [0, tokens). type_row (one row of the token-type table) may be null.
// Tables are [rows, hidden]; ids and position_ids must index valid rows.
void embedding_layernorm(const int32_t* ids, const int32_t* position_ids, int64_t tokens,
                         const float* word, const float* position, const float* type_row,
                         const float* gamma, const float* beta, float eps, int64_t hidden,
                         float* out);

// out[r] = LayerNorm(x[r] · x_row_scale[r] + bias + residual[r]) for r in
// [0, rows). bias, residual and x_row_scale (an int8 GEMM's deferred input
// scales, Linear::run) may be null. out may alias x or residual (same ld).
void add_layernorm(const float* x, int64_t ld_x, const float* bias, const float* residual,
                   int64_t ld_res, const float* gamma, const float* beta, float eps, int64_t rows,
                   int64_t cols, float* out, int64_t ld_out, const float* x_row_scale = nullptr);

// x[r] = act(x[r] + bias) in place; bias may be null (bias+GELU is the FFN's).
void bias_activation(float* x, int64_t ld, int64_t rows, int64_t cols, const float* bias,
                     Activation act);

// x[r] = act(x[r] · row_scale[r] + bias) in place; bias may be null (the
// dequantization epilogue of an int8 GEMM whose output scales hold the
// weights' per-column scales).
void scale_bias_activation(float* x, int64_t ld, int64_t rows, int64_t cols, const float* row_scale,
                           const float* bias, Activation act);

// Dynamic symmetric int8 quantization, one scale per row: scales[r] =
// max_c |x[r][c]| / 127 (1 for an all-zero row) and q[r][c] =
// round(x[r][c] / scales[r]) (nearest even), so x ≈ scales[r] · q[r].
void quantize_rows_s8(const float* x, int64_t ld, int64_t rows, int64_t cols, int8_t* q,
                      int64_t ld_q, float* scales);

// Row-wise softmax / logistic sigmoid in place.
void softmax(float* x, int64_t ld, int64_t rows, int64_t cols);
void sigmoid(float* x, int64_t ld, int64_t rows, int64_t cols);

// out[i] = x[i] rounded to bfloat16 (nearest even), as raw bits.
void to_bf16(const float* x, int64_t n, uint16_t* out);

// Multi-head self-attention over a packed, padding-free batch: sequence s is
// rows [cu_seqlens[s], cu_seqlens[s+1]) of qkv, and attends only within itself.
// qkv row = [Q | K | V], each num_heads × head_dim with heads contiguous.
// scale multiplies Q·K (1/sqrt(head_dim) for BERT-family models).
// With first_token_only, only each sequence's first position is computed and
// out has one row per sequence; otherwise out has one row per token.
void attention(const float* qkv, int64_t ld_qkv, const int32_t* cu_seqlens, int64_t num_seqs,
               int64_t num_heads, int64_t head_dim, float scale, bool first_token_only, float* out,
               int64_t ld_out);

// out[s] = mean of rows [cu_seqlens[s], cu_seqlens[s+1]) of x (mean pooling).
void mean_pool(const float* x, int64_t ld, const int32_t* cu_seqlens, int64_t num_seqs,
               int64_t cols, float* out, int64_t ld_out);

// Running top-k per row, one catalogue tile at a time (the recommend
// scorer's selection). For r < rows: x[r][c] is the score of item base + c,
// c < cols; row r's top-k lives in top_scores/top_items [r*k, r*k + k),
// sorted by score descending with ties by the lower item, and counts[r]
// entries are filled. Tiles must come in increasing `base` (ties rely on
// it). Only scores above -inf qualify (NaN never does). Start each row at
// counts[r] = 0.
void topk_merge_rows(const float* x, int64_t ld, int64_t rows, int64_t cols, int32_t base,
                     int64_t k, float* top_scores, int32_t* top_items, int32_t* counts);

}  // namespace sluice::cpu
