// The attention entry: shape checks, kernel choice, the simple kernel's launch.
#include <stdexcept>
#include <string>

#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/attention_simple.cuh"
#include "kernels/cuda/cuda_error.h"
#include "kernels/cuda/launch.cuh"

namespace sluice::cuda {

const char* attention_kernel_name(AttentionKernel k) {
  switch (k) {
    case AttentionKernel::kAuto:
      return "auto";
    case AttentionKernel::kTensorCore:
      return "tensor-core";
    case AttentionKernel::kSimple:
      return "simple";
  }
  return "?";
}

void attention_prepare(DType dt, int64_t head_dim) {
  if (head_dim == 16 || head_dim == 32 || head_dim == 64)
    detail::prepare_attention_tc(dt, head_dim);
}

bool tensor_core_attention_applies(int64_t head_dim, int64_t ld_qkv, const void* qkv) {
  return (head_dim == 16 || head_dim == 32 || head_dim == 64) && ld_qkv % 8 == 0 &&
         reinterpret_cast<uintptr_t>(qkv) % 16 == 0;
}

void attention(DType dt, const void* qkv, int64_t ld_qkv, const float* qkv_bias,
               const int32_t* cu_seqlens, int64_t num_seqs, int64_t max_seqlen, int64_t num_heads,
               int64_t head_dim, float scale, bool first_token_only, void* out, int64_t ld_out,
               cudaStream_t stream, AttentionKernel kernel) {
  if (num_seqs < 0 || max_seqlen < 0 || num_heads <= 0 || head_dim <= 0)
    throw std::invalid_argument(
        "attention: need num_seqs >= 0, max_seqlen >= 0, num_heads > 0, head_dim > 0");
  const int64_t d = num_heads * head_dim;
  if (ld_qkv < 3 * d)
    throw std::invalid_argument("attention: ld_qkv is smaller than 3 × num_heads × head_dim");
  if (ld_out < d)
    throw std::invalid_argument("attention: ld_out is smaller than num_heads × head_dim");
  if (num_seqs > 0x7fffffff || num_heads > 65535 || max_seqlen > 0x7fffffff)
    throw std::invalid_argument("attention: too many sequences, heads or tokens for one launch");
  if (num_seqs == 0 || max_seqlen == 0) return;
  const bool tc = tensor_core_attention_applies(head_dim, ld_qkv, qkv);
  if (kernel == AttentionKernel::kTensorCore && !tc)
    throw std::invalid_argument(
        "attention: the tensor-core kernel needs head_dim 16, 32 or 64 and 16-byte rows "
        "(head_dim " +
        std::to_string(head_dim) + ", ld_qkv " + std::to_string(ld_qkv) + ")");
  if (kernel == AttentionKernel::kTensorCore || (kernel == AttentionKernel::kAuto && tc)) {
    detail::launch_attention_tc(dt, qkv, ld_qkv, qkv_bias, cu_seqlens, num_seqs, max_seqlen,
                                num_heads, head_dim, scale, first_token_only, out, ld_out, stream);
    return;
  }
  if (head_dim > 32 * kSimplePerLane)
    throw std::invalid_argument("attention: head_dim " + std::to_string(head_dim) + " is over 256");
  const int64_t qblocks = first_token_only ? 1 : (max_seqlen + kSimpleWarps - 1) / kSimpleWarps;
  if (qblocks > 65535) throw std::invalid_argument("attention: max_seqlen too long for one launch");
  const dim3 grid(static_cast<unsigned>(num_seqs), static_cast<unsigned>(num_heads),
                  static_cast<unsigned>(qblocks));
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    SLUICE_LAUNCH(attention_simple_kernel<T>, grid, 32 * kSimpleWarps, 0, stream,
                  static_cast<const T*>(qkv), ld_qkv, qkv_bias, cu_seqlens,
                  static_cast<int>(num_heads), static_cast<int>(head_dim), scale,
                  first_token_only ? 1 : 0, static_cast<T*>(out), ld_out);
  });
  check_launch("attention_simple_kernel", "attention");
}

}  // namespace sluice::cuda
