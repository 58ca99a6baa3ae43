// The CPU implementation of engine::Scorer (src/engine/scorer.h): the item
// matrix split into tiles of consecutive items, each packed once for the
// CPU backend's oneDNN GEMM (linear.h); per chunk of up to 256 queries and
// per tile, in item order: scores = queries · tileᵀ, excluded items set to
// −∞, then merged into each row's running top-k (ops.h topk_merge_rows, a
// SIMD scan that skips whole vectors at or below the current k-th score).
//
// Memory: the packed item matrix, plus one score buffer of 256 rows × tile
// items, sized to ScorerOptions::memory_budget_bytes and at most 1 MiB
// (tiles of 256 to 1,024 items: a tile's scores stay in L2 between its GEMM
// and its top-K merge, which is the fused GEMM + top-K of FAISS' blocked
// search), so a 1M-item catalogue never needs a 1 GB score matrix.
//
// Query chunks are padded to 16, 32, 64, 128 or 256 rows (zeros) so that each
// tile's GEMM compiles at most five shapes. Threads: the calling thread's
// OpenMP team, options.threads wide (parallel.h), for chunks of at least
// options.parallel_min_macs multiply-adds; smaller chunks (a few events
// scored at once: a pipeline under light load) run on the calling thread.
// Each tile's GEMM is a parallel region, so a small batch on a team of N
// paid a fork and join per tile, and libgomp's idle team members spin
// (GOMP_SPINCOUNT) between regions: at a batch every few milliseconds they
// never slept and held a core that the rest of the pipeline, and a broker
// on the same machine, needed.
#pragma once
#include <cstdint>
#include <memory>

#include "src/engine/scorer.h"

namespace sluice::cpu {

// The threads (for set_thread_count(); 0 = every core) that a chunk of
// `rows` queries over `items` × `dim` runs on: options.threads, or 1 when
// its padded GEMMs take fewer than options.parallel_min_macs multiply-adds.
int chunk_threads(int64_t rows, int64_t items, int64_t dim, const engine::ScorerOptions& options);

// Copies `items` ([num_items, dim] row-major); the caller may free it after.
// Throws std::invalid_argument for bad sizes or options.
std::unique_ptr<engine::Scorer> make_cpu_scorer(const float* items, int64_t num_items, int64_t dim,
                                                const engine::ScorerOptions& options);

}  // namespace sluice::cpu
