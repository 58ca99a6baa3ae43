// Batch-shape buckets for CUDA-graph replay: a graph is captured for launch
// sizes, so a packed batch is padded up to the next bucket (tokens, records,
// longest sequence) and every batch in a bucket replays one graph. Buckets
// are about 1/8 of the size wide, so padding costs at most ~12% of the work.
// Plain C++.
#pragma once
#include <cstdint>

namespace sluice::cuda {

inline int64_t bucket_up(int64_t n, int64_t min_step) {
  if (n <= 0) return 0;
  int64_t p = 1;
  while (p < n) p <<= 1;
  const int64_t step = p / 8 > min_step ? p / 8 : min_step;
  return (n + step - 1) / step * step;
}

inline int64_t token_bucket(int64_t tokens) { return bucket_up(tokens, 32); }
inline int64_t record_bucket(int64_t records) { return bucket_up(records, 8); }
// The attention kernels tile queries by 64 (tensor cores) or 4 (simple).
inline int64_t seqlen_bucket(int64_t max_seqlen) { return (max_seqlen + 63) / 64 * 64; }

}  // namespace sluice::cuda
