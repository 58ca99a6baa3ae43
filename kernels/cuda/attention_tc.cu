// Launcher of the tensor-core attention kernel (attention_tc.cuh).
#include <mutex>
#include <stdexcept>
#include <string>

#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/attention_tc.cuh"
#include "kernels/cuda/cuda_error.h"
#include "kernels/cuda/launch.cuh"

namespace sluice::cuda {
namespace {

// Raising a kernel's dynamic shared-memory limit is per device; do it once
// per device and instantiation, outside any stream capture.
template <class T, int DH>
void allow_smem(int device) {
  static std::mutex mu;
  static uint64_t done = 0;  // bit per device (first 64)
  std::lock_guard lock(mu);
  const uint64_t bit = device < 64 ? uint64_t{1} << device : 0;
  if (bit && (done & bit)) return;
  SLUICE_CUDA_CHECK(
      cudaFuncSetAttribute(attention_tc_kernel<T, DH>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(TcLayout<T, DH>::kTotal)),
      "attention (tensor-core kernel shared memory)");
  done |= bit;
}

template <class T, int DH>
void launch(const void* qkv, int64_t ld_qkv, const float* bias, const int32_t* cu, int64_t num_seqs,
            int64_t max_seqlen, int64_t num_heads, float scale, bool first_only, void* out,
            int64_t ld_out, cudaStream_t stream) {
  using L = TcLayout<T, DH>;
  int device = 0;
  SLUICE_CUDA_CHECK(cudaGetDevice(&device), "attention");
  allow_smem<T, DH>(device);
  const int64_t qtiles = first_only ? 1 : (max_seqlen + L::kBQ - 1) / L::kBQ;
  if (qtiles > 65535) throw std::invalid_argument("attention: max_seqlen too long for one launch");
  const dim3 grid(static_cast<unsigned>(num_seqs), static_cast<unsigned>(num_heads),
                  static_cast<unsigned>(qtiles));
  SLUICE_LAUNCH((attention_tc_kernel<T, DH>), grid, L::kThreads, L::kTotal, stream,
                static_cast<const T*>(qkv), ld_qkv, bias, cu, static_cast<int>(num_heads), scale,
                first_only ? 1 : 0, static_cast<T*>(out), ld_out);
  check_launch("attention_tc_kernel", "attention");
}

}  // namespace

namespace detail {

void prepare_attention_tc(DType dt, int64_t head_dim) {
  int device = 0;
  SLUICE_CUDA_CHECK(cudaGetDevice(&device), "attention");
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    if (head_dim == 16) allow_smem<T, 16>(device);
    if (head_dim == 32) allow_smem<T, 32>(device);
    if (head_dim == 64) allow_smem<T, 64>(device);
  });
}

void launch_attention_tc(DType dt, const void* qkv, int64_t ld_qkv, const float* qkv_bias,
                         const int32_t* cu, int64_t num_seqs, int64_t max_seqlen, int64_t num_heads,
                         int64_t head_dim, float scale, bool first_token_only, void* out,
                         int64_t ld_out, cudaStream_t stream) {
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    switch (head_dim) {
      case 16:
        return launch<T, 16>(qkv, ld_qkv, qkv_bias, cu, num_seqs, max_seqlen, num_heads, scale,
                             first_token_only, out, ld_out, stream);
      case 32:
        return launch<T, 32>(qkv, ld_qkv, qkv_bias, cu, num_seqs, max_seqlen, num_heads, scale,
                             first_token_only, out, ld_out, stream);
      case 64:
        return launch<T, 64>(qkv, ld_qkv, qkv_bias, cu, num_seqs, max_seqlen, num_heads, scale,
                             first_token_only, out, ld_out, stream);
      default:
        throw std::invalid_argument("attention: tensor-core kernel has no head_dim " +
                                    std::to_string(head_dim));
    }
  });
}

}  // namespace detail
}  // namespace sluice::cuda
