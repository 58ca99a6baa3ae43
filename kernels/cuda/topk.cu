// Launchers of the recommend scorer's kernels (topk_kernels.cuh).
#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_error.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/topk.cuh"
#include "kernels/cuda/topk_kernels.cuh"

namespace sluice::cuda {
namespace {

void check_rows(const char* op, int64_t rows) {
  if (rows < 0 || rows > 65535)
    throw std::invalid_argument(std::string(op) + ": rows must be in [0, 65535]");
}

}  // namespace

int64_t topk_candidates(int64_t size, int64_t k) {
  return (size + kTopkChunk - 1) / kTopkChunk * k;
}

void topk_mask(float* scores, int64_t ld, int64_t rows, const int32_t* ex_offsets,
               const int32_t* ex_items, int64_t begin, int64_t size, cudaStream_t stream) {
  check_rows("topk_mask", rows);
  if (size <= 0 || size > ld || begin < 0 || begin + size > 0x7fffffff)
    throw std::invalid_argument("topk_mask: need 0 < size <= ld and the tile inside int range");
  if (rows == 0) return;
  SLUICE_LAUNCH(topk_mask_kernel, dim3(static_cast<unsigned>(rows)), kMaskThreads, 0, stream,
                scores, ld, ex_offsets, ex_items, static_cast<int>(begin), static_cast<int>(size));
  check_launch("topk_mask_kernel", "topk_mask");
}

void topk_tile(const float* scores, int64_t ld, int64_t rows, int64_t size, int64_t base, int64_t k,
               float* cand_s, int32_t* cand_i, int64_t cand_ld, float* run_s, int32_t* run_i,
               bool first, cudaStream_t stream) {
  check_rows("topk_tile", rows);
  if (k < 1 || k > kTopkMaxK) throw std::invalid_argument("topk_tile: k must be in [1, 1024]");
  if (size <= 0 || size > ld || base < 0 || base + size > 0x7fffffff)
    throw std::invalid_argument("topk_tile: need 0 < size <= ld and the tile inside int range");
  const int64_t chunks = (size + kTopkChunk - 1) / kTopkChunk;
  if (cand_ld < topk_candidates(size, k))
    throw std::invalid_argument("topk_tile: cand_ld is smaller than topk_candidates(size, k)");
  if (chunks > 65535) throw std::invalid_argument("topk_tile: tile too large");
  if (rows == 0) return;
  SLUICE_LAUNCH(topk_chunk_kernel, dim3(static_cast<unsigned>(rows), static_cast<unsigned>(chunks)),
                kTopkThreads, kTopkSmemBytes, stream, scores, ld, static_cast<int>(size),
                static_cast<int>(base), static_cast<int>(k), cand_s, cand_i, cand_ld);
  check_launch("topk_chunk_kernel", "topk_tile");
  const size_t merge_smem = kTopkSmemBytes + static_cast<size_t>(k) * (sizeof(float) + sizeof(int));
  SLUICE_LAUNCH(topk_merge_kernel, dim3(static_cast<unsigned>(rows)), kTopkThreads, merge_smem,
                stream, cand_s, cand_i, cand_ld, static_cast<int>(chunks * k), run_s, run_i,
                static_cast<int>(k), first ? 1 : 0);
  check_launch("topk_merge_kernel", "topk_tile");
}

}  // namespace sluice::cuda
