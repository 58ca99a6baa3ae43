// The CUDA scorer on the CPU (no GPU needed): the real cuda_scorer.cpp —
// item upload, pinned staging of queries and exclusions, tiles of the
// catalogue, cuBLAS SGEMM, the masking, chunk top-k and merge kernels with
// their launchers' grids and shared memory — over host_emulation.h (the
// kernels' threads, barriers and shared memory) and emulated_runtime.cpp
// (streams, events, copies, cuBLAS). Against the exact integer reference of
// tests/support/scorer_cases.h, which the CPU scorer also meets, so the two
// backends return the same items in the same order. The same checks run on
// a real GPU in tests/gpu/cuda_scorer_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "kernels/cuda/check/emulated_runtime.h"
#include "kernels/cuda/cuda_scorer.h"
#include "tests/support/scorer_cases.h"

namespace sluice::cuda {
namespace {

using testing::ScorerCase;

class EmulatedScorer : public ::testing::TestWithParam<ScorerCase> {};

TEST_P(EmulatedScorer, TopKEqualsTheExactReference) {
  const ScorerCase& c = GetParam();
  const testing::ScorerInputs in = testing::make_inputs(c);
  engine::ScorerOptions o;
  o.memory_budget_bytes = c.budget;
  o.max_k = c.k;
  o.max_rows = 256;
  const auto before = emu::live_objects();
  {
    auto scorer = make_cuda_scorer(in.items.data(), c.items, c.dim, o, 0);
    std::vector<int32_t> items(static_cast<size_t>(c.rows * c.k));
    std::vector<float> scores(items.size());
    const engine::ScoreTimes t =
        scorer->top_k({in.queries, c.rows, in.offsets, in.exclude}, c.k, {items, scores});
    const auto [want_items, want_scores] = testing::reference_top_k(c, in);
    EXPECT_EQ(items, want_items);
    EXPECT_EQ(scores, want_scores);
    EXPECT_GE(t.gemm_ns, 0);
    EXPECT_GE(t.topk_ns, 0);
    // A second batch through the same buffers: the running top-k restarts.
    scorer->top_k({in.queries, c.rows, in.offsets, in.exclude}, c.k, {items, scores});
    EXPECT_EQ(items, want_items);
  }
  const auto after = emu::live_objects();
  EXPECT_EQ(after.device_allocations, before.device_allocations) << "device memory leaked";
  EXPECT_EQ(after.host_allocations, before.host_allocations) << "pinned memory leaked";
  EXPECT_EQ(after.streams, before.streams);
  EXPECT_EQ(after.events, before.events);
}

INSTANTIATE_TEST_SUITE_P(Cases, EmulatedScorer, ::testing::ValuesIn(testing::scorer_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(EmulatedScorer, NaNAndInfiniteScoresNeverQualify) {
  const std::vector<float> items = {NAN, 2.f, -INFINITY, INFINITY, 1.f, NAN};
  engine::ScorerOptions o;
  o.max_k = 6;
  auto scorer = make_cuda_scorer(items.data(), 6, 1, o, 0);
  const std::vector<float> q = {1.f};
  const std::vector<int32_t> offsets = {0, 0}, exclude;
  std::vector<int32_t> top(6);
  std::vector<float> s(6);
  scorer->top_k({q, 1, offsets, exclude}, 6, {top, s});
  EXPECT_EQ(top, (std::vector<int32_t>{3, 1, 4, -1, -1, -1}));
}

TEST(EmulatedScorer, ADeviceWithoutRoomIsAStartUpErrorNamingTheBytes) {
  auto& dev = emu::emulated_device();
  const auto saved = dev.total_bytes;
  dev.total_bytes = std::size_t{64} << 20;  // less than the item matrix and workspaces need
  const std::vector<float> items(1'000'000 * 16, 1.f);
  engine::ScorerOptions o;
  try {
    make_cuda_scorer(items.data(), 1'000'000, 16, o, 0);
    ADD_FAILURE() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("not enough device memory"), std::string::npos) << what;
    EXPECT_NE(what.find("item matrix 62 MiB"), std::string::npos) << what;
  }
  dev.total_bytes = saved;
}

}  // namespace
}  // namespace sluice::cuda
