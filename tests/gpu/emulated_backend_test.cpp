// CudaBackend on the CPU (no GPU needed): the real cuda_backend.cpp — slots
// with pinned staging and a stream each, staging of ids, positions and
// cu_seqlens, the completion thread and its ticket order, CUDA-graph capture
// and replay per shape bucket, workspace growth, memory reporting, start-up
// errors — over the real encoder and op launchers, with the kernels run by
// host_emulation.h and the runtime, graphs and cuBLAS by emulated_runtime.cpp.
// The checks are tests/gpu/cuda_backend_test.cpp's, on shorter sequences
// (the emulation is slow): results against the CPU backend in fp16 and bf16,
// a record alone or in a mixed batch, bit-identical repeats, graphs equal to
// eager runs and reading fresh inputs, growth past the budget, callbacks in
// submit order with several batches in flight, wait/poll, malformed batches,
// an impossible memory budget, and every runtime object released.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cuda/check/emulated_runtime.h"
#include "kernels/cuda/cuda_backend.h"
#include "src/engine/model.h"
#include "tests/gpu/gpu_test_support.h"

namespace sluice::engine {
namespace {

using gpu_testing::close;
using gpu_testing::model_tol;
using gpu_testing::Out;
using gpu_testing::Seqs;
using gpu_testing::Tol;

class EmulatedBackend : public ::testing::Test {
 protected:
  void SetUp() override {
    // cuda_backend_test's bert-d16 model (the file is shared).
    const auto& mc = gpu_testing::model_case("bert-d16");
    model_ = std::make_unique<Model>(Model::load(gpu_testing::random_model(mc.name, mc.spec)));
    rng_.seed(gpu_testing::test_seed());
    SCOPED_TRACE("seed " + std::to_string(gpu_testing::test_seed()));
    before_ = cuda::emu::live_objects();
  }
  void TearDown() override {
    // Every backend of the test is gone: all it created is released.
    const auto now = cuda::emu::live_objects();
    EXPECT_EQ(now.device_allocations, before_.device_allocations);
    EXPECT_EQ(now.host_allocations, before_.host_allocations);
    EXPECT_EQ(now.streams, before_.streams);
    EXPECT_EQ(now.events, before_.events);
    EXPECT_EQ(now.graphs, before_.graphs);
    EXPECT_EQ(now.graph_execs, before_.graph_execs);
  }

  BackendOptions options(const std::string& dtype, Pooling pooling = Pooling::kHead,
                         bool graphs = false) const {
    BackendOptions o;
    o.device = "cuda";
    o.threads = 1;
    o.max_batch_tokens = 64;
    o.max_batch_records = 8;
    o.pooling = pooling;
    o.dtype = dtype;
    o.cuda_graphs = graphs;
    return o;
  }
  std::unique_ptr<Backend> gpu(const BackendOptions& o) {
    return cuda::make_cuda_backend(model_->config(), model_->weights(), o, 0);
  }
  std::unique_ptr<Backend> cpu(Pooling pooling = Pooling::kHead) {
    BackendOptions o;
    o.device = "cpu";
    o.threads = 1;
    o.pooling = pooling;
    return cpu::make_cpu_backend(model_->config(), model_->weights(), o);
  }
  Out run(Backend& b, const Seqs& seqs, bool pooled = true) {
    return gpu_testing::run_batch(b, seqs, pooled);
  }
  Seqs seqs(const std::vector<int>& lengths) {
    const auto& c = model_->config();
    return gpu_testing::random_sequences(rng_, lengths, static_cast<int>(c.vocab_size),
                                         c.positions_from_padding_idx);
  }

  std::unique_ptr<Model> model_;
  std::mt19937 rng_;
  cuda::emu::LiveObjects before_;
};

TEST_F(EmulatedBackend, LogitsAndPooledMatchTheCpuBackend) {
  const auto batch = seqs({1, 9, 3, 17, 2});
  for (const char* dt : {"fp16", "bf16"}) {
    SCOPED_TRACE(dt);
    const Tol tol = model_tol(dt);
    auto g = gpu(options(dt, Pooling::kMean));
    EXPECT_EQ(g->kind(), "cuda");
    auto c = cpu(Pooling::kMean);
    const Out got = run(*g, batch), ref = run(*c, batch);
    EXPECT_TRUE(close(got.logits, ref.logits, tol.rel, tol.abs)) << "logits";
    EXPECT_TRUE(close(got.pooled, ref.pooled, tol.rel, tol.abs)) << "pooled";
    // Without pooled outputs requested, logits are the same computation.
    EXPECT_TRUE(close(run(*g, batch, false).logits, ref.logits, tol.rel, tol.abs)) << "no pooled";
  }
}

TEST_F(EmulatedBackend, RecordGetsTheSameResultAloneOrInAMixedLengthBatch) {
  auto g = gpu(options("fp16", Pooling::kFirstToken));
  const Tol tol = model_tol("fp16");
  const auto recs = seqs({5, 1});
  const auto others = seqs({3, 11});
  gpu_testing::expect_record_same_alone_or_mixed(*g, recs, others, tol);
}

TEST_F(EmulatedBackend, SameBatchTwiceGivesBitIdenticalResults) {
  auto g = gpu(options("bf16"));
  const auto batch = seqs({7, 2, 12});
  const Out a = run(*g, batch), b = run(*g, batch), c = run(*g, batch);  // slots 0, 1, 0
  EXPECT_EQ(a.logits, b.logits);
  EXPECT_EQ(a.logits, c.logits);
  EXPECT_EQ(a.pooled, b.pooled);
}

TEST_F(EmulatedBackend, CudaGraphsGiveTheSameResultsAndReadFreshInputs) {
  auto eager = gpu(options("fp16"));
  const auto captures = cuda::emu::live_objects().captures;
  const auto launches = cuda::emu::live_objects().graph_launches;
  BackendOptions go = options("fp16", Pooling::kHead, /*graphs=*/true);
  go.max_batch_records =
      16;  // room for the second bucket below without growing (which drops graphs)
  auto graphs = gpu(go);
  EXPECT_NE(graphs->device_name().find("CUDA graphs"), std::string::npos) << graphs->device_name();
  const auto a = seqs({4, 6, 8}), b = seqs({5, 7, 3});  // same bucket, other ids and lengths
  const Out ref_a = run(*eager, a), ref_b = run(*eager, b);
  // As on the GPU: per slot a bucket runs eagerly on its first sighting, is
  // captured on its second and replayed after; a, a, b, b, a, a, b, b makes
  // each slot capture during b and replay with a, so a replay that kept the
  // captured inputs would return b's logits for a.
  const std::vector<const Seqs*> order = {&a, &a, &b, &b, &a, &a, &b, &b};
  std::vector<Out> got;
  for (const auto* batch : order) got.push_back(run(*graphs, *batch));
  const Tol tol = model_tol("fp16");
  for (size_t i = 0; i < order.size(); ++i) {
    const Out& ref = order[i] == &a ? ref_a : ref_b;
    EXPECT_TRUE(close(got[i].logits, ref.logits, tol.rel, tol.abs)) << "run " << i;
    EXPECT_TRUE(close(got[i].pooled, ref.pooled, tol.rel, tol.abs)) << "run " << i << " pooled";
  }
  EXPECT_EQ(got[4].logits, got[5].logits);
  EXPECT_EQ(got[6].logits, got[7].logits);
  EXPECT_NE(got[4].logits, got[6].logits);
  // Two slots, each captured once and replayed thrice (its capture run too).
  EXPECT_EQ(cuda::emu::live_objects().captures - captures, 2u);
  EXPECT_EQ(cuda::emu::live_objects().graph_launches - launches, 6u);
  // Another bucket (same token bucket, more records) is not served by the
  // first bucket's graph.
  const auto c = seqs({2, 3, 2, 4, 1, 2, 3, 2, 5});
  const Out ref_c = run(*eager, c);
  for (int i = 0; i < 4; ++i)
    EXPECT_TRUE(close(run(*graphs, c).logits, ref_c.logits, tol.rel, tol.abs))
        << "bucket 2, run " << i;
}

TEST_F(EmulatedBackend, BatchOverTheBudgetGrowsTheWorkspaceAndStaysCorrect) {
  BackendOptions o = options("fp16");
  o.max_batch_tokens = 8;
  o.max_batch_records = 2;
  auto g = gpu(o);
  auto c = cpu();
  const Tol tol = model_tol("fp16");
  const size_t before = g->memory_usage().workspace_bytes;
  const auto big = seqs({15, 3, 1, 9});
  const Out ref = run(*c, big);
  for (int i = 0; i < 2; ++i) {  // tickets alternate between the two slots: each grows once
    EXPECT_TRUE(close(run(*g, big).logits, ref.logits, tol.rel, tol.abs)) << "run " << i;
    EXPECT_GT(g->memory_usage().workspace_bytes, before);
  }
  const size_t grown = g->memory_usage().workspace_bytes;
  EXPECT_TRUE(close(run(*g, big).logits, ref.logits, tol.rel, tol.abs));
  run(*g, seqs({4}));
  EXPECT_EQ(g->memory_usage().workspace_bytes, grown) << "steady state must not reallocate";
}

TEST_F(EmulatedBackend, CallbacksArriveInSubmitOrderWithOutputsWritten) {
  BackendOptions o = options("fp16");
  o.max_in_flight = 3;
  auto g = gpu(o);
  auto c = cpu();
  const auto& config = model_->config();
  const auto batches = gpu_testing::random_batches(
      rng_, /*batches=*/7, /*max_records=*/3, /*max_len=*/12, static_cast<int>(config.vocab_size),
      config.positions_from_padding_idx);
  const Tol tol = model_tol("fp16");
  gpu_testing::expect_callbacks_in_submit_order(
      *g, batches, [&](const Seqs& b) { return run(*c, b, false).logits; }, tol.rel, tol.abs);
}

TEST_F(EmulatedBackend, WaitRetiresTicketAndPollSeesCompletion) {
  auto g = gpu(options("fp16"));
  const auto a = seqs({4, 9, 2});
  const auto b = seqs({2});
  gpu_testing::expect_wait_retires_ticket_and_poll_sees_completion(*g, a, b);
}

TEST_F(EmulatedBackend, RefusesMalformedBatches) {
  auto g = gpu(options("fp16"));
  gpu_testing::expect_refuses_malformed_batches(*g);
}

TEST_F(EmulatedBackend, ImpossibleMemoryBudgetIsAClearStartupError) {
  BackendOptions o = options("fp16");
  o.max_batch_tokens = int64_t{1} << 34;  // terabytes of activations
  try {
    gpu(o);
    FAIL() << "a backend was built with a workspace larger than the device";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("not enough device memory"), std::string::npos) << what;
    EXPECT_NE(what.find("max_batch_tokens"), std::string::npos) << what;
    EXPECT_NE(what.find("host emulation"), std::string::npos) << what;
  }
  // A budget that fits what is free only without the reserve is refused too.
  auto& dev = cuda::emu::emulated_device();
  const auto saved = dev;
  dev.total_bytes = 64u << 20;
  EXPECT_THROW(gpu(options("fp16")), std::runtime_error);
  dev = saved;
  // Older than sm_80, or no such device: refused with a reason.
  dev.major = 7;
  try {
    gpu(options("fp16"));
    ADD_FAILURE() << "an sm_70 device was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("sm_80"), std::string::npos) << e.what();
  }
  dev = saved;
  EXPECT_THROW(cuda::make_cuda_backend(model_->config(), model_->weights(), options("fp16"), 1),
               std::runtime_error);
  // The device is still usable afterwards.
  auto g = gpu(options("fp16"));
  EXPECT_EQ(run(*g, seqs({3}), false).logits.size(), 3u);
}

TEST_F(EmulatedBackend, ReportsDeviceMemoryAndName) {
  auto g = gpu(options("fp16"));
  const MemoryUsage m = g->memory_usage();
  EXPECT_GT(m.weights_bytes, static_cast<size_t>(model_->parameter_count()));
  EXPECT_GT(m.workspace_bytes, 0u);
  EXPECT_GT(m.device_total_bytes, 0u);
  EXPECT_GT(m.device_free_bytes, 0u);
  EXPECT_LE(m.device_free_bytes + m.weights_bytes + m.workspace_bytes, m.device_total_bytes);
  const std::string name = g->device_name();
  EXPECT_NE(name.find("host emulation"), std::string::npos) << name;
  EXPECT_NE(name.find("sm_90"), std::string::npos) << name;
  EXPECT_NE(name.find("fp16"), std::string::npos) << name;
  EXPECT_THROW(gpu([&] {
                 auto o = options("fp8");
                 return o;
               }()),
               std::invalid_argument);
}

}  // namespace
}  // namespace sluice::engine
