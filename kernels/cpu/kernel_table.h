// Per-ISA table of the fused row kernels behind ops.h. Each ISA unit
// (ops_avx512.cpp, ops_avx2.cpp, ops_scalar.cpp) fills one table from the same
// template code (ops_impl.h); ops.cpp picks a table once at run time and
// splits work over threads. Internal to kernels/cpu.
#pragma once
#include <cstdint>

#include "src/engine/activation.h"

namespace sluice::cpu {

struct KernelTable {
  const char* name;

  // For tokens [0, n): out[t] = LayerNorm(word[ids[t]] + position[pos[t]] (+ type_row)).
  void (*embedding_layernorm)(const int32_t* ids, const int32_t* pos, int64_t n, const float* word,
                              const float* position, const float* type_row, const float* gamma,
                              const float* beta, float eps, int64_t hidden, float* out);

  // out[r] = LayerNorm(x[r] (· x_scale[r]) (+ bias) (+ residual[r])). out may alias x
  // or residual; x_scale, bias, residual may be null.
  void (*add_layernorm)(const float* x, int64_t ld_x, const float* x_scale, const float* bias,
                        const float* residual, int64_t ld_res, const float* gamma,
                        const float* beta, float eps, int64_t rows, int64_t cols, float* out,
                        int64_t ld_out);

  // x[r] = act(x[r] (· row_scale[r]) (+ bias)) in place; bias, row_scale may be null.
  void (*bias_activation)(float* x, int64_t ld, int64_t rows, int64_t cols, const float* bias,
                          const float* row_scale, engine::Activation act);

  void (*softmax)(float* x, int64_t ld, int64_t rows, int64_t cols);
  void (*sigmoid)(float* x, int64_t ld, int64_t rows, int64_t cols);

  // out[i] = x[i] rounded to bfloat16 (nearest even), as raw bits, i in [0, n).
  void (*to_bf16)(const float* x, int64_t n, uint16_t* out);

  // out[c] = mean over r of x[r][c].
  void (*mean_rows)(const float* x, int64_t ld, int64_t rows, int64_t cols, float* out);

  // One head of one sequence: queries 0..num_queries-1 attend over keys 0..len-1.
  // q, k, v point at position 0 of this head; rows are ld apart. out row i is
  // out + i*ld_out. scratch holds attention_scratch_floats(len, head_dim) floats.
  void (*attention_head)(const float* q, const float* k, const float* v, int64_t ld, int64_t len,
                         int64_t num_queries, int64_t head_dim, float scale, float* out,
                         int64_t ld_out, float* scratch);

  // Merges x[0, n) (x[c] the score of item base + c) into one row's running
  // top-k (see ops.h topk_merge_rows).
  void (*topk_merge_row)(const float* x, int64_t n, int32_t base, int64_t k, float* top_scores,
                         int32_t* top_items, int32_t* count);

  // Symmetric per-row int8 quantization (ops.h quantize_rows_s8).
  void (*quantize_rows_s8)(const float* x, int64_t ld, int64_t rows, int64_t cols, int8_t* q,
                           int64_t ld_q, float* scales);
};

// Widest vector any table uses (floats); scratch sizes are rounded to it.
inline constexpr int64_t kMaxVecWidth = 16;

inline int64_t attention_scratch_floats(int64_t len, int64_t head_dim) {
  int64_t lp = (len + kMaxVecWidth - 1) / kMaxVecWidth * kMaxVecWidth;
  return lp * head_dim + 4 * lp;
}

extern const KernelTable kScalarKernels;
extern const KernelTable kAvx2Kernels;    // only linked in on x86-64
extern const KernelTable kAvx512Kernels;  // only linked in on x86-64

}  // namespace sluice::cpu
