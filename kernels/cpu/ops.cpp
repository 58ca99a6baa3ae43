// Dispatch and threading for ops.h. This unit is compiled for the baseline
// ISA; the vector code lives in ops_<isa>.cpp.
#include "kernels/cpu/ops.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "kernels/cpu/kernel_table.h"
#include "kernels/cpu/parallel.h"

namespace sluice::cpu {
namespace {

Isa detect() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return Isa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
#endif
  return Isa::kScalar;
}

Isa from_env(Isa detected) {
  const char* e = std::getenv("SLUICE_CPU_ISA");
  if (!e) return detected;
  std::string_view v = e;
  Isa want = v == "scalar" ? Isa::kScalar : v == "avx2" ? Isa::kAvx2 : Isa::kAvx512;
  return std::min(want, detected);
}

std::atomic<Isa>& active() {
  static std::atomic<Isa> isa{from_env(detected_isa())};
  return isa;
}

const KernelTable& table() {
  switch (active().load(std::memory_order_relaxed)) {
#if defined(__x86_64__)
    case Isa::kAvx512:
      return kAvx512Kernels;
    case Isa::kAvx2:
      return kAvx2Kernels;
#endif
    default:
      return kScalarKernels;
  }
}

// Rows per thread chunk: enough work to amortise waking a thread (~a few µs).
int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1)); }

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "?";
}

Isa detected_isa() {
  static const Isa isa = detect();
  return isa;
}

Isa active_isa() { return active().load(std::memory_order_relaxed); }

void set_isa(Isa isa) { active().store(std::min(isa, detected_isa()), std::memory_order_relaxed); }

void embedding_layernorm(const int32_t* ids, const int32_t* position_ids, int64_t tokens,
                         const float* word, const float* position, const float* type_row,
                         const float* gamma, const float* beta, float eps, int64_t hidden,
                         float* out) {
  const KernelTable& k = table();
  parallel_for(tokens, row_grain(hidden), [&](int64_t b, int64_t e) {
    k.embedding_layernorm(ids + b, position_ids + b, e - b, word, position, type_row, gamma, beta,
                          eps, hidden, out + b * hidden);
  });
}

void add_layernorm(const float* x, int64_t ld_x, const float* bias, const float* residual,
                   int64_t ld_res, const float* gamma, const float* beta, float eps, int64_t rows,
                   int64_t cols, float* out, int64_t ld_out, const float* x_row_scale) {
  const KernelTable& k = table();
  parallel_for(rows, row_grain(cols), [&](int64_t b, int64_t e) {
    k.add_layernorm(x + b * ld_x, ld_x, x_row_scale ? x_row_scale + b : nullptr, bias,
                    residual ? residual + b * ld_res : nullptr, ld_res, gamma, beta, eps, e - b,
                    cols, out + b * ld_out, ld_out);
  });
}

void bias_activation(float* x, int64_t ld, int64_t rows, int64_t cols, const float* bias,
                     Activation act) {
  const KernelTable& k = table();
  parallel_for(rows, row_grain(cols), [&](int64_t b, int64_t e) {
    k.bias_activation(x + b * ld, ld, e - b, cols, bias, nullptr, act);
  });
}

void scale_bias_activation(float* x, int64_t ld, int64_t rows, int64_t cols, const float* row_scale,
                           const float* bias, Activation act) {
  const KernelTable& k = table();
  parallel_for(rows, row_grain(cols), [&](int64_t b, int64_t e) {
    k.bias_activation(x + b * ld, ld, e - b, cols, bias, row_scale + b, act);
  });
}

void quantize_rows_s8(const float* x, int64_t ld, int64_t rows, int64_t cols, int8_t* q,
                      int64_t ld_q, float* scales) {
  const KernelTable& k = table();
  parallel_for(rows, row_grain(cols), [&](int64_t b, int64_t e) {
    k.quantize_rows_s8(x + b * ld, ld, e - b, cols, q + b * ld_q, ld_q, scales + b);
  });
}

void softmax(float* x, int64_t ld, int64_t rows, int64_t cols) {
  const KernelTable& k = table();
  parallel_for(rows, row_grain(cols),
               [&](int64_t b, int64_t e) { k.softmax(x + b * ld, ld, e - b, cols); });
}

void sigmoid(float* x, int64_t ld, int64_t rows, int64_t cols) {
  const KernelTable& k = table();
  parallel_for(rows, row_grain(cols),
               [&](int64_t b, int64_t e) { k.sigmoid(x + b * ld, ld, e - b, cols); });
}

void to_bf16(const float* x, int64_t n, uint16_t* out) {
  const KernelTable& k = table();
  parallel_for(n, 32768, [&](int64_t b, int64_t e) { k.to_bf16(x + b, e - b, out + b); });
}

void attention(const float* qkv, int64_t ld_qkv, const int32_t* cu_seqlens, int64_t num_seqs,
               int64_t num_heads, int64_t head_dim, float scale, bool first_token_only, float* out,
               int64_t ld_out) {
  const KernelTable& k = table();
  const int64_t hidden = num_heads * head_dim;
  // One item per (sequence, head); each thread keeps a scratch buffer that
  // only grows, so steady-state batches allocate nothing.
  parallel_for_each(num_seqs * num_heads, [&](int64_t item) {
    thread_local std::vector<float> scratch;
    const int64_t s = item / num_heads;
    const int64_t h = item % num_heads;
    const int64_t begin = cu_seqlens[s];
    const int64_t len = cu_seqlens[s + 1] - begin;
    if (len <= 0) return;
    const size_t need = static_cast<size_t>(attention_scratch_floats(len, head_dim));
    if (scratch.size() < need) scratch.resize(need);
    const float* q = qkv + begin * ld_qkv + h * head_dim;
    float* o = out + (first_token_only ? s : begin) * ld_out + h * head_dim;
    k.attention_head(q, q + hidden, q + 2 * hidden, ld_qkv, len, first_token_only ? 1 : len,
                     head_dim, scale, o, ld_out, scratch.data());
  });
}

void mean_pool(const float* x, int64_t ld, const int32_t* cu_seqlens, int64_t num_seqs,
               int64_t cols, float* out, int64_t ld_out) {
  const KernelTable& k = table();
  parallel_for_each(num_seqs, [&](int64_t s) {
    const int64_t begin = cu_seqlens[s];
    const int64_t len = cu_seqlens[s + 1] - begin;
    if (len <= 0) {
      std::memset(out + s * ld_out, 0, sizeof(float) * cols);
      return;
    }
    k.mean_rows(x + begin * ld, ld, len, cols, out + s * ld_out);
  });
}

void topk_merge_rows(const float* x, int64_t ld, int64_t rows, int64_t cols, int32_t base,
                     int64_t k, float* top_scores, int32_t* top_items, int32_t* counts) {
  const KernelTable& t = table();
  parallel_for(rows, std::max<int64_t>(1, 65536 / std::max<int64_t>(cols, 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t r = b; r < e; ++r)
                   t.topk_merge_row(x + r * ld, cols, base, k, top_scores + r * k,
                                    top_items + r * k, counts + r);
               });
}

}  // namespace sluice::cpu
