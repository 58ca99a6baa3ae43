// The CUDA scorer on a real GPU (label gpu; skips without a usable device):
// the cases of tests/support/scorer_cases.h against the exact integer
// reference (as the CPU scorer and the host emulation meet it), plus a
// million-item catalogue in tiles against the CPU scorer.
#include "kernels/cuda/cuda_scorer.h"

#include <gtest/gtest.h>

#include <random>

#include "kernels/cpu/cpu_scorer.h"
#include "kernels/cuda/check/op_check.h"
#include "tests/support/scorer_cases.h"

namespace sluice::cuda {
namespace {

#define SLUICE_REQUIRE_GPU()                                      \
  do {                                                            \
    if (std::string why = opcheck::why_no_device(); !why.empty()) \
      GTEST_SKIP() << "no usable CUDA device: " << why;           \
  } while (0)

class CudaScorerCases : public ::testing::TestWithParam<testing::ScorerCase> {};

TEST_P(CudaScorerCases, TopKEqualsTheExactReference) {
  SLUICE_REQUIRE_GPU();
  const testing::ScorerCase& c = GetParam();
  const testing::ScorerInputs in = testing::make_inputs(c);
  engine::ScorerOptions o;
  o.memory_budget_bytes = c.budget;
  o.max_k = c.k;
  auto scorer = make_cuda_scorer(in.items.data(), c.items, c.dim, o, opcheck::test_device());
  std::vector<int32_t> items(static_cast<size_t>(c.rows * c.k));
  std::vector<float> scores(items.size());
  scorer->top_k({in.queries, c.rows, in.offsets, in.exclude}, c.k, {items, scores});
  const auto [want_items, want_scores] = testing::reference_top_k(c, in);
  EXPECT_EQ(items, want_items);
  EXPECT_EQ(scores, want_scores);
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaScorerCases, ::testing::ValuesIn(testing::scorer_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(CudaScorer, MillionItemsInTilesMatchTheCpuScorer) {
  SLUICE_REQUIRE_GPU();
  testing::ScorerCase c{"million", 1'000'000, 64, 256, 10, 3, 0.001, 64u << 20, 9};
  const testing::ScorerInputs in = testing::make_inputs(c);
  engine::ScorerOptions o;
  o.memory_budget_bytes = c.budget;  // 256 rows × 65,536 items per tile: 16 tiles
  o.max_k = c.k;
  auto gpu = make_cuda_scorer(in.items.data(), c.items, c.dim, o, opcheck::test_device());
  auto cpu = cpu::make_cpu_scorer(in.items.data(), c.items, c.dim, o);
  std::vector<int32_t> gi(static_cast<size_t>(c.rows * c.k)), ci(gi.size());
  std::vector<float> gs(gi.size()), cs(gi.size());
  gpu->top_k({in.queries, c.rows, in.offsets, in.exclude}, c.k, {gi, gs});
  cpu->top_k({in.queries, c.rows, in.offsets, in.exclude}, c.k, {ci, cs});
  EXPECT_EQ(gi, ci);
  EXPECT_EQ(gs, cs);
}

}  // namespace
}  // namespace sluice::cuda
