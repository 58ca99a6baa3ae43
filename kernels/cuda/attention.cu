// The attention entry (shape checks, kernel choice) and the simple kernel.
#include "kernels/cuda/attention.cuh"

#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_error.h"
#include "kernels/cuda/device_common.cuh"

namespace sluice::cuda {
namespace {

constexpr int kSimpleWarps = 4;     // queries per block
constexpr int kSimplePerLane = 8;   // head_dim ≤ 32 × 8

// One warp per query: lanes split head_dim, the dot product is a warp sum,
// softmax runs online over the keys (running max m, running sum l), and the
// output accumulates in registers. Grid: (sequence, head, query block).
template <class T>
__global__ void __launch_bounds__(32 * kSimpleWarps)
    attention_simple_kernel(const T* __restrict__ qkv, int64_t ld, const float* __restrict__ bias,
                            const int32_t* __restrict__ cu, int heads, int dh, float scale, int first_only,
                            T* __restrict__ out, int64_t ld_out) {
  const int s = blockIdx.x;
  const int h = blockIdx.y;
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  const int q = blockIdx.z * kSimpleWarps + warp;
  const int start = cu[s];
  const int len = cu[s + 1] - start;
  if (q >= len || (first_only && q != 0)) return;  // whole warps leave; no block barrier below
  const int d = heads * dh;
  const float* bq = bias ? bias + h * dh : nullptr;
  const float* bk = bias ? bias + d + h * dh : nullptr;
  const float* bv = bias ? bias + 2 * d + h * dh : nullptr;

  float qv[kSimplePerLane], o[kSimplePerLane];
  const T* qrow = qkv + static_cast<int64_t>(start + q) * ld + h * dh;
#pragma unroll
  for (int i = 0; i < kSimplePerLane; ++i) {
    const int c = lane + 32 * i;
    qv[i] = c < dh ? (to_f32(qrow[c]) + (bq ? bq[c] : 0.f)) * scale : 0.f;
    o[i] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  for (int j = 0; j < len; ++j) {
    const T* krow = qkv + static_cast<int64_t>(start + j) * ld + d + h * dh;
    const T* vrow = krow + d;
    float part = 0.f;
#pragma unroll
    for (int i = 0; i < kSimplePerLane; ++i) {
      const int c = lane + 32 * i;
      if (c < dh) part += qv[i] * (to_f32(krow[c]) + (bk ? bk[c] : 0.f));
    }
    const float sj = warp_sum(part);
    const float m_new = fmaxf(m, sj);
    const float alpha = expf(m - m_new);  // 0 for the first key (m = -inf)
    const float p = expf(sj - m_new);
    l = l * alpha + p;
#pragma unroll
    for (int i = 0; i < kSimplePerLane; ++i) {
      const int c = lane + 32 * i;
      if (c < dh) o[i] = o[i] * alpha + p * (to_f32(vrow[c]) + (bv ? bv[c] : 0.f));
    }
    m = m_new;
  }
  const int64_t row = first_only ? s : start + q;
  const float inv = 1.f / l;
#pragma unroll
  for (int i = 0; i < kSimplePerLane; ++i) {
    const int c = lane + 32 * i;
    if (c < dh) out[row * ld_out + h * dh + c] = from_f32<T>(o[i] * inv);
  }
}

}  // namespace

const char* attention_kernel_name(AttentionKernel k) {
  switch (k) {
    case AttentionKernel::kAuto: return "auto";
    case AttentionKernel::kTensorCore: return "tensor-core";
    case AttentionKernel::kSimple: return "simple";
  }
  return "?";
}

void attention_prepare(DType dt, int64_t head_dim) {
  if (head_dim == 16 || head_dim == 32 || head_dim == 64) detail::prepare_attention_tc(dt, head_dim);
}

bool tensor_core_attention_applies(int64_t head_dim, int64_t ld_qkv, const void* qkv) {
  return (head_dim == 16 || head_dim == 32 || head_dim == 64) && ld_qkv % 8 == 0 &&
         reinterpret_cast<uintptr_t>(qkv) % 16 == 0;
}

void attention(DType dt, const void* qkv, int64_t ld_qkv, const float* qkv_bias, const int32_t* cu_seqlens,
               int64_t num_seqs, int64_t max_seqlen, int64_t num_heads, int64_t head_dim, float scale,
               bool first_token_only, void* out, int64_t ld_out, cudaStream_t stream, AttentionKernel kernel) {
  if (num_seqs < 0 || max_seqlen < 0 || num_heads <= 0 || head_dim <= 0)
    throw std::invalid_argument("attention: need num_seqs >= 0, max_seqlen >= 0, num_heads > 0, head_dim > 0");
  const int64_t d = num_heads * head_dim;
  if (ld_qkv < 3 * d) throw std::invalid_argument("attention: ld_qkv is smaller than 3 × num_heads × head_dim");
  if (ld_out < d) throw std::invalid_argument("attention: ld_out is smaller than num_heads × head_dim");
  if (num_seqs > 0x7fffffff || num_heads > 65535 || max_seqlen > 0x7fffffff)
    throw std::invalid_argument("attention: too many sequences, heads or tokens for one launch");
  if (num_seqs == 0 || max_seqlen == 0) return;
  const bool tc = tensor_core_attention_applies(head_dim, ld_qkv, qkv);
  if (kernel == AttentionKernel::kTensorCore && !tc)
    throw std::invalid_argument("attention: the tensor-core kernel needs head_dim 16, 32 or 64 and 16-byte rows (head_dim " +
                                std::to_string(head_dim) + ", ld_qkv " + std::to_string(ld_qkv) + ")");
  if (kernel == AttentionKernel::kTensorCore || (kernel == AttentionKernel::kAuto && tc)) {
    detail::launch_attention_tc(dt, qkv, ld_qkv, qkv_bias, cu_seqlens, num_seqs, max_seqlen, num_heads, head_dim,
                                scale, first_token_only, out, ld_out, stream);
    return;
  }
  if (head_dim > 32 * kSimplePerLane)
    throw std::invalid_argument("attention: head_dim " + std::to_string(head_dim) + " is over 256");
  const int64_t qblocks = first_token_only ? 1 : (max_seqlen + kSimpleWarps - 1) / kSimpleWarps;
  if (qblocks > 65535) throw std::invalid_argument("attention: max_seqlen too long for one launch");
  const dim3 grid(static_cast<unsigned>(num_seqs), static_cast<unsigned>(num_heads), static_cast<unsigned>(qblocks));
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    attention_simple_kernel<T><<<grid, 32 * kSimpleWarps, 0, stream>>>(
        static_cast<const T*>(qkv), ld_qkv, qkv_bias, cu_seqlens, static_cast<int>(num_heads),
        static_cast<int>(head_dim), scale, first_token_only ? 1 : 0, static_cast<T*>(out), ld_out);
  });
  check_launch("attention_simple_kernel", "attention");
}

}  // namespace sluice::cuda
