// Test cases for the recommend scorers (src/engine/scorer.h), shared by the
// CPU scorer's unit test, the CUDA scorer's host-emulation test and its GPU
// test: integer-valued items and queries, so every score is an exact small
// integer whatever the summation order (oneDNN, cuBLAS or a loop), which
// makes exact ties common and the expected top-k exact: score descending,
// ties by the lower item, excluded items never. Header-only.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "src/engine/scorer.h"

namespace sluice::testing {

struct ScorerCase {
  std::string name;
  int64_t items = 1000, dim = 16, rows = 4, k = 10;
  int values = 3;                  // entries drawn from [-values, values]
  double exclude_fraction = 0.05;  // of the catalogue, per row
  std::size_t budget = 64u << 20;  // the scorer's memory_budget_bytes
  uint32_t seed = 1;
};

struct ScorerInputs {
  std::vector<float> items, queries;
  std::vector<int32_t> offsets{0}, exclude;
};

inline ScorerInputs make_inputs(const ScorerCase& c) {
  ScorerInputs in;
  std::mt19937 g(c.seed);
  std::uniform_int_distribution<int> v(-c.values, c.values);
  in.items.resize(static_cast<size_t>(c.items * c.dim));
  for (auto& x : in.items) x = static_cast<float>(v(g));
  in.queries.resize(static_cast<size_t>(c.rows * c.dim));
  for (auto& x : in.queries) x = static_cast<float>(v(g));
  std::bernoulli_distribution ex(c.exclude_fraction);
  for (int64_t r = 0; r < c.rows; ++r) {
    for (int32_t i = 0; i < c.items; ++i)
      if (ex(g)) in.exclude.push_back(i);
    in.offsets.push_back(static_cast<int32_t>(in.exclude.size()));
  }
  return in;
}

// The exact top-k of each row: (items, scores), rows × k, −1/−∞ past the end.
inline std::pair<std::vector<int32_t>, std::vector<float>> reference_top_k(const ScorerCase& c,
                                                                           const ScorerInputs& in) {
  std::vector<int32_t> items(static_cast<size_t>(c.rows * c.k), -1);
  std::vector<float> scores(static_cast<size_t>(c.rows * c.k), -INFINITY);
  for (int64_t r = 0; r < c.rows; ++r) {
    std::vector<std::pair<int64_t, int32_t>> all;  // (−score, item): sorts into the top-k order
    size_t e = static_cast<size_t>(in.offsets[r]);
    for (int32_t i = 0; i < c.items; ++i) {
      if (e < static_cast<size_t>(in.offsets[r + 1]) && in.exclude[e] == i) {
        ++e;
        continue;
      }
      int64_t s = 0;
      for (int64_t d = 0; d < c.dim; ++d)
        s += static_cast<int64_t>(in.queries[static_cast<size_t>(r * c.dim + d)]) *
             static_cast<int64_t>(in.items[static_cast<size_t>(i * c.dim + d)]);
      all.emplace_back(-s, i);
    }
    std::sort(all.begin(), all.end());
    for (int64_t j = 0; j < c.k && j < static_cast<int64_t>(all.size()); ++j) {
      items[static_cast<size_t>(r * c.k + j)] = all[static_cast<size_t>(j)].second;
      scores[static_cast<size_t>(r * c.k + j)] =
          static_cast<float>(-all[static_cast<size_t>(j)].first);
    }
  }
  return {items, scores};
}

inline const std::vector<ScorerCase>& scorer_cases() {
  static const std::vector<ScorerCase> cases = [] {
    std::vector<ScorerCase> v;
    v.push_back({"one_tile"});
    // Tiny budgets: many tiles, the last one partial, ties across tiles.
    v.push_back({"many_tiles_ties", 5000, 7, 5, 10, 1, 0.02, 1u << 20, 2});
    v.push_back({"more_rows_than_a_chunk", 600, 9, 260, 5, 2, 0.1, 1u << 20, 3});
    // Most of a small catalogue excluded: fewer than k qualify.
    v.push_back({"fewer_than_k", 20, 4, 3, 10, 2, 0.7, 64u << 20, 4});
    v.push_back({"k_1_wide", 3000, 130, 2, 1, 3, 0.0, 64u << 20, 5});
    v.push_back({"k_100", 4100, 33, 3, 100, 2, 0.3, 1u << 20, 6});
    return v;
  }();
  return cases;
}

}  // namespace sluice::testing
