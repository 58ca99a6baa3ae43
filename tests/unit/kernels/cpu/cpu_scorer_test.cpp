// The CPU scorer (kernels/cpu/cpu_scorer.h) against the exact integer
// reference of tests/support/scorer_cases.h, on every SIMD path: tiles,
// chunks of rows, ties, exclusions, fewer than k, and the contract checks.
#include "kernels/cpu/cpu_scorer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "kernels/cpu/ops.h"
#include "kernels/cpu/parallel.h"
#include "tests/support/scorer_cases.h"

namespace sluice::cpu {
namespace {

using testing::ScorerCase;

class CpuScorerCases : public ::testing::TestWithParam<std::tuple<ScorerCase, Isa>> {};

TEST_P(CpuScorerCases, TopKEqualsTheExactReference) {
  const auto& [c, isa] = GetParam();
  set_isa(isa);
  const testing::ScorerInputs in = testing::make_inputs(c);
  engine::ScorerOptions o;
  o.memory_budget_bytes = c.budget;
  o.max_k = c.k;
  o.threads = 2;
  o.parallel_min_macs = 0;  // these catalogues are small: on the team anyway
  auto scorer = make_cpu_scorer(in.items.data(), c.items, c.dim, o);
  std::vector<int32_t> items(static_cast<size_t>(c.rows * c.k));
  std::vector<float> scores(items.size());
  scorer->top_k({in.queries, c.rows, in.offsets, in.exclude}, c.k, {items, scores});
  const auto [want_items, want_scores] = testing::reference_top_k(c, in);
  EXPECT_EQ(items, want_items);
  EXPECT_EQ(scores, want_scores);
  set_isa(detected_isa());
}

INSTANTIATE_TEST_SUITE_P(Cases, CpuScorerCases,
                         ::testing::Combine(::testing::ValuesIn(testing::scorer_cases()),
                                            ::testing::Values(Isa::kScalar, Isa::kAvx2,
                                                              Isa::kAvx512)),
                         [](const auto& info) {
                           return std::get<0>(info.param).name + "_" +
                                  isa_name(std::get<1>(info.param));
                         });

TEST(CpuScorer, NaNAndInfiniteScoresNeverQualifyButFiniteOnesAroundThemDo) {
  // Items 0..5, dim 1: scores = item values × 1.
  const std::vector<float> items = {NAN, 2.f, -INFINITY, INFINITY, 1.f, NAN};
  engine::ScorerOptions o;
  o.max_k = 6;
  auto scorer = make_cpu_scorer(items.data(), 6, 1, o);
  const std::vector<float> q = {1.f};
  const std::vector<int32_t> offsets = {0, 0}, exclude;
  std::vector<int32_t> top(6);
  std::vector<float> s(6);
  scorer->top_k({q, 1, offsets, exclude}, 6, {top, s});
  // +inf qualifies (it is above −inf); NaN and −inf do not.
  EXPECT_EQ(top, (std::vector<int32_t>{3, 1, 4, -1, -1, -1}));
}

TEST(CpuScorer, RejectsBatchesThatBreakTheContract) {
  const std::vector<float> items(10 * 2, 1.f);
  engine::ScorerOptions o;
  o.max_k = 3;
  auto scorer = make_cpu_scorer(items.data(), 10, 2, o);
  const std::vector<float> q(2, 1.f);
  std::vector<int32_t> top(3);
  std::vector<float> s(3);
  const std::vector<int32_t> none = {0, 0};
  const std::vector<int32_t> two = {0, 2};
  EXPECT_THROW(scorer->top_k({q, 1, none, {}}, 4, {top, s}), std::invalid_argument);  // k > max_k
  const std::vector<int32_t> unsorted = {5, 2}, outside = {1, 10};
  EXPECT_THROW(scorer->top_k({q, 1, two, unsorted}, 3, {top, s}), std::invalid_argument);
  EXPECT_THROW(scorer->top_k({q, 1, two, outside}, 3, {top, s}), std::invalid_argument);
  const std::vector<float> short_q(1, 1.f);
  EXPECT_THROW(scorer->top_k({short_q, 1, none, {}}, 3, {top, s}), std::invalid_argument);
  EXPECT_NO_THROW(scorer->top_k({q, 1, none, {}}, 3, {top, s}));
  EXPECT_EQ(top, (std::vector<int32_t>{0, 1, 2}));  // all equal: the lower items first
}

TEST(CpuScorer, ScoresAMillionItemCatalogueWithinItsBudget) {
  const int64_t n = 1'000'000, d = 32;
  std::vector<float> items(static_cast<size_t>(n * d), 0.f);
  for (int64_t i = 0; i < n; ++i) items[static_cast<size_t>(i * d)] = static_cast<float>(i % 1000);
  engine::ScorerOptions o;
  o.max_k = 5;
  o.memory_budget_bytes = 8u << 20;
  auto scorer = make_cpu_scorer(items.data(), n, d, o);
  // The packed item matrix plus one 256-row score tile within the budget
  // (not 256 rows × 1M items = 1 GB).
  const std::size_t item_bytes = items.size() * sizeof(float);
  EXPECT_LT(scorer->memory_bytes(), item_bytes + item_bytes / 4 + (8u << 20) + (2u << 20));
  std::vector<float> q(d, 0.f);
  q[0] = 1.f;
  const std::vector<int32_t> offsets = {0, 1}, exclude = {999};
  std::vector<int32_t> top(5);
  std::vector<float> s(5);
  scorer->top_k({q, 1, offsets, exclude}, 5, {top, s});
  EXPECT_EQ(top, (std::vector<int32_t>{1999, 2999, 3999, 4999, 5999}));
  EXPECT_EQ(s, (std::vector<float>{999, 999, 999, 999, 999}));
}

// A pipeline under light load scores a few events at a time: with the
// shipped model (7,356 items, d 128) such a batch must not wake the OpenMP
// team (a fork and join per tile, then idle members spinning on cores the
// rest of the pipeline needs); a full batch, or a large catalogue, still
// runs options.threads wide.
TEST(CpuScorer, SmallBatchesRunOnTheCallingThreadAndLargeOnesOnTheTeam) {
  const int64_t n = 7356, d = 128;
  std::vector<float> items(static_cast<size_t>(n * d), 0.f);
  for (int64_t i = 0; i < n; ++i) items[static_cast<size_t>(i * d)] = static_cast<float>(i);
  engine::ScorerOptions o;
  o.max_k = 10;
  o.threads = 2;
  auto scorer = make_cpu_scorer(items.data(), n, d, o);
  auto score = [&](int64_t rows) {
    std::vector<float> q(static_cast<size_t>(rows * d), 0.f);
    std::vector<int32_t> offsets(static_cast<size_t>(rows + 1), 0),
        top(static_cast<size_t>(rows * 10));
    std::vector<float> s(top.size());
    for (int64_t r = 0; r < rows; ++r) q[static_cast<size_t>(r * d)] = 1.f;
    scorer->top_k({q, rows, offsets, {}}, 10, {top, s});
    EXPECT_EQ(top[0], n - 1);
    return thread_count();  // what the last chunk ran on
  };
  EXPECT_EQ(score(1), 1);
  EXPECT_EQ(score(16), 1);
  EXPECT_EQ(score(256), 2);
  EXPECT_EQ(score(3), 1);

  EXPECT_EQ(chunk_threads(1, n, d, o), 1);
  EXPECT_EQ(chunk_threads(64, n, d, o), 1);
  EXPECT_EQ(chunk_threads(128, n, d, o), 2);
  EXPECT_EQ(chunk_threads(1, 1'000'000, d, o), 2);  // 16 padded rows × 1M items: worth the team
  o.threads = 0;
  EXPECT_EQ(chunk_threads(256, n, d, o), 0);  // every core
  o.parallel_min_macs = 0;
  o.threads = 2;
  EXPECT_EQ(chunk_threads(1, 16, 1, o), 2);
}

}  // namespace
}  // namespace sluice::cpu
