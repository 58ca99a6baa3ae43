// The scoring interface of recommendation pipelines: queries × item matrix
// as one GEMM, items to exclude masked to −∞, then the top k per query. The
// CPU implementation (kernels/cpu/cpu_scorer.h: oneDNN GEMM + SIMD top-K)
// and the CUDA one (kernels/cuda/cuda_scorer.h: cuBLAS + a top-K kernel)
// both tile the catalogue so that the score matrix never exceeds
// ScorerOptions::memory_budget_bytes, whatever the batch and catalogue.
//
// Results are exact and deterministic: for each query, the k items with the
// highest scores, ties broken by the lower item index, excluded items never
// (nor items whose score is −∞ or NaN); fewer than k when fewer qualify, the
// rest of the row filled with item −1 and score −∞. Both backends compute
// scores in fp32, so they agree up to rounding in the last bits of near-ties.
//
// Threading: one caller at a time per scorer (the recommend_score worker
// that owns it); top_k() blocks until the results are written. No CUDA type
// here (DESIGN.md: CUDA never leaks upward).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace sluice::engine {

struct ScorerOptions {
  std::string device = "auto";  // "cpu", "cuda", "cuda:N" or "auto" (CUDA if usable)
  int threads = 0;              // CPU threads; 0 = every core
  // Bytes the score matrix (rows × catalogue tile) may take at once.
  std::size_t memory_budget_bytes = std::size_t{64} << 20;
  int64_t max_k = 100;     // largest k top_k() is asked for
  int64_t max_rows = 256;  // rows per GEMM (larger batches run in chunks)
  // CPU: a chunk of queries whose GEMMs take fewer multiply-adds than this
  // (rows padded to their bucket × items × dim) runs on the calling thread
  // alone; see kernels/cpu/cpu_scorer.h. 0: always `threads` wide.
  int64_t parallel_min_macs = int64_t{1} << 26;
};

// One batch of queries: rows × dim, row-major; per row, the items to
// exclude, sorted ascending (CSR: exclude_offsets has rows + 1 entries).
struct ScoreQueries {
  std::span<const float> queries;
  int64_t rows = 0;
  std::span<const int32_t> exclude_offsets;
  std::span<const int32_t> exclude;
};

// Caller-owned results: rows × k each.
struct TopKOut {
  std::span<int32_t> items;
  std::span<float> scores;
};

struct ScoreTimes {
  int64_t gemm_ns = 0;  // the matrix products
  int64_t topk_ns = 0;  // masking and selection
};

class Scorer {
 public:
  virtual ~Scorer() = default;
  virtual std::string_view kind() const = 0;    // "cpu", "cuda"
  virtual std::string device_name() const = 0;  // for logs and sluice_model_info
  virtual int64_t num_items() const = 0;
  virtual int64_t dim() const = 0;
  // Bytes held: the item matrix and the workspaces.
  virtual std::size_t memory_bytes() const = 0;

  // Throws std::invalid_argument when the batch breaks the contract (see
  // check_queries), std::runtime_error on a device failure.
  virtual ScoreTimes top_k(const ScoreQueries& q, int64_t k, const TopKOut& out) = 0;
};

// Empty when q/out fit this scorer and k, else why not.
inline std::string check_queries(const ScoreQueries& q, int64_t k, const TopKOut& out,
                                 int64_t num_items, int64_t dim, int64_t max_k) {
  if (q.rows < 0) return "rows must be non-negative";
  if (k < 1 || k > max_k) return "k must be in [1, " + std::to_string(max_k) + "]";
  if (q.queries.size() != static_cast<size_t>(q.rows * dim))
    return "queries must be rows × dim floats";
  if (q.exclude_offsets.size() != static_cast<size_t>(q.rows + 1))
    return "exclude_offsets must have rows + 1 entries";
  if (q.exclude_offsets[0] != 0 ||
      q.exclude_offsets[static_cast<size_t>(q.rows)] != static_cast<int32_t>(q.exclude.size()))
    return "exclude_offsets must run from 0 to exclude.size()";
  for (int64_t r = 0; r < q.rows; ++r) {
    const int32_t b = q.exclude_offsets[static_cast<size_t>(r)];
    const int32_t e = q.exclude_offsets[static_cast<size_t>(r) + 1];
    if (e < b) return "exclude_offsets must not decrease";
    for (int32_t j = b; j < e; ++j) {
      const int32_t item = q.exclude[static_cast<size_t>(j)];
      if (item < 0 || item >= num_items) return "an excluded item is outside the catalogue";
      if (j > b && item <= q.exclude[static_cast<size_t>(j) - 1])
        return "each row's excluded items must be sorted ascending without repeats";
    }
  }
  if (out.items.size() != static_cast<size_t>(q.rows * k) ||
      out.scores.size() != static_cast<size_t>(q.rows * k))
    return "outputs must hold rows × k entries";
  return {};
}

}  // namespace sluice::engine
