// The CUDA implementation of engine::Scorer (src/engine/scorer.h), seen from
// plain C++ (no CUDA type here). The item matrix is uploaded once (fp32);
// each batch: queries and exclusions up (pinned staging), then per
// catalogue tile on one stream: cuBLAS SGEMM scores = queries · tileᵀ (fp32
// accumulation, no TF32, so results match the CPU scorer to rounding),
// excluded items to −∞ (topk_mask), the tile's exact top-k merged into each
// row's running top-k (topk_tile), and finally k results per row down.
// Tiles hold ScorerOptions::memory_budget_bytes of scores at most.
//
// In builds without CUDA (cuda_absent.cpp) the factory throws
// std::runtime_error("... this build has no CUDA backend").
#pragma once
#include <memory>

#include "src/engine/scorer.h"

namespace sluice::cuda {

// A scorer on `device`; copies `items` ([num_items, dim] row-major). Throws
// std::invalid_argument for bad sizes or options and std::runtime_error when
// the device cannot hold the item matrix and workspaces (the message names
// the bytes needed).
std::unique_ptr<engine::Scorer> make_cuda_scorer(const float* items, int64_t num_items, int64_t dim,
                                                 const engine::ScorerOptions& options, int device);

}  // namespace sluice::cuda
