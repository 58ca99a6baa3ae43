// The recommend scorer's device ops (kernels in topk_kernels.cuh), one
// catalogue tile at a time, all on `stream`, device pointers:
//
//   topk_mask     scores[r][item - begin] = −∞ for row r's excluded items
//                 (CSR ex_offsets/ex_items) inside the tile [begin, begin + size)
//   topk_tile     merges the tile's scores (column c is item base + c) into
//                 each row's running top-k run_s/run_i[r · k, + k): a block per
//                 chunk of kTopkChunk items writes that chunk's exact top k to
//                 cand (row stride cand_ld ≥ topk_candidates(size, k)), then a
//                 block per row merges them with the running entries (not yet
//                 valid when `first`).
//
// Rows at most 65,535 per call; k at most kTopkMaxK.
// Internal header (CUDA types): kernels/cuda only.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace sluice::cuda {

inline constexpr int64_t kTopkMaxK = 1024;

// Candidate slots per row that topk_tile needs for a tile of `size` items.
int64_t topk_candidates(int64_t size, int64_t k);

void topk_mask(float* scores, int64_t ld, int64_t rows, const int32_t* ex_offsets,
               const int32_t* ex_items, int64_t begin, int64_t size, cudaStream_t stream);

void topk_tile(const float* scores, int64_t ld, int64_t rows, int64_t size, int64_t base, int64_t k,
               float* cand_s, int32_t* cand_i, int64_t cand_ld, float* run_s, int32_t* run_i,
               bool first, cudaStream_t stream);

}  // namespace sluice::cuda
