// Launcher of the embedding + LayerNorm kernels (layernorm_kernels.cuh).
#include <stdexcept>

#include "kernels/cuda/cuda_error.h"
#include "kernels/cuda/embedding_layernorm.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/layernorm_kernels.cuh"

namespace sluice::cuda {

void embedding_layernorm(DType dt, const int32_t* ids, const int32_t* position_ids, int64_t tokens,
                         const void* word, const void* position, const float* type_row,
                         const float* gamma, const float* beta, float eps, int64_t hidden,
                         void* out, cudaStream_t stream) {
  if (tokens < 0 || hidden <= 0 || hidden > 8192)
    throw std::invalid_argument("embedding_layernorm: need tokens >= 0 and 0 < hidden <= 8192");
  if (tokens > 0x7fffffff)
    throw std::invalid_argument("embedding_layernorm: too many tokens for one launch");
  if (tokens == 0) return;
  const bool vec8 = layernorm_vec8_applies(hidden) && aligned16(word, hidden) &&
                    aligned16(position, hidden) && aligned16(out, hidden);
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    if (vec8 && layernorm_warp_applies(hidden)) {
      with_layernorm_warp_groups(hidden, [&](auto groups) {
        SLUICE_LAUNCH((embedding_layernorm_warp_kernel<T, decltype(groups)::value>),
                      layernorm_warp_blocks(tokens), 32u * kLayernormWarpRows, 0, stream, ids,
                      position_ids, static_cast<const T*>(word), static_cast<const T*>(position),
                      type_row, gamma, beta, eps, static_cast<int>(hidden), tokens,
                      static_cast<T*>(out));
      });
      return;
    }
    if (vec8) {
      SLUICE_LAUNCH(embedding_layernorm_vec8_kernel<T>, static_cast<unsigned>(tokens),
                    layernorm_vec8_threads(hidden), kLayernormVec8SmemBytes, stream, ids,
                    position_ids, static_cast<const T*>(word), static_cast<const T*>(position),
                    type_row, gamma, beta, eps, static_cast<int>(hidden), static_cast<T*>(out));
      return;
    }
    SLUICE_LAUNCH(embedding_layernorm_kernel<T>, static_cast<unsigned>(tokens),
                  layernorm_threads(hidden), layernorm_smem_bytes(hidden), stream, ids,
                  position_ids, static_cast<const T*>(word), static_cast<const T*>(position),
                  type_row, gamma, beta, eps, static_cast<int>(hidden), static_cast<T*>(out));
  });
  check_launch("embedding_layernorm_kernel", "embedding_layernorm");
}

}  // namespace sluice::cuda
