// The multi-device wrapper (batches dealt round-robin over one backend per
// device) over CPU backends, so it runs on any machine: results equal a
// single backend's, callbacks and completions stay in submit order across
// the inner backends, refused batches leave no hole in the ticket sequence.
#include "kernels/cuda/round_robin_backend.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <random>

#include "src/engine/backend_factory.h"
#include "src/engine/model.h"
#include "tests/gpu/gpu_test_support.h"

namespace sluice::engine {
namespace {

using gpu_testing::pack;
using gpu_testing::Packed;

class RoundRobin : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ =
        std::make_unique<Model>(Model::load(gpu_testing::random_model("round-robin-bert", spec_)));
    rng_.seed(7);
  }
  std::unique_ptr<Backend> cpu() {
    BackendOptions o;
    o.device = "cpu";
    o.threads = 1;
    o.max_batch_tokens = 256;
    return make_backend(*model_, o);
  }
  std::unique_ptr<Backend> wrapper(int n, int in_flight) {
    std::vector<std::unique_ptr<Backend>> inner;
    for (int i = 0; i < n; ++i) inner.push_back(cpu());
    return cuda::make_round_robin_backend(std::move(inner), in_flight);
  }
  std::vector<std::vector<int32_t>> seqs(const std::vector<int>& lengths) {
    return gpu_testing::random_sequences(rng_, lengths, spec_.vocab, false);
  }
  std::vector<float> logits_of(Backend& b, const std::vector<std::vector<int32_t>>& s) {
    Packed p = pack(s);
    std::vector<float> out(s.size() * spec_.labels, NAN);
    BatchResult r = b.run({p.ids, p.cu, p.max_len}, {out, {}});
    EXPECT_TRUE(r.ok) << r.error;
    return out;
  }

  gpu_testing::RandomModelSpec spec_{"bert", 2, 64, 4, 128, 300, 128, 3, "gelu", 31};
  std::unique_ptr<Model> model_;
  std::mt19937 rng_;
};

TEST_F(RoundRobin, GivesTheSameLogitsAsOneBackend) {
  auto rr = wrapper(3, 6);
  auto one = cpu();
  EXPECT_EQ(rr->kind(), "cpu");
  EXPECT_NE(rr->device_name().find("3 devices, round-robin"), std::string::npos);
  for (int i = 0; i < 7; ++i) {
    const auto batch = seqs({1 + i, 30, 64});
    EXPECT_EQ(logits_of(*rr, batch), logits_of(*one, batch)) << "batch " << i;
  }
}

TEST_F(RoundRobin, CallbacksArriveInSubmitOrderAcrossBackends) {
  auto rr = wrapper(2, 8);
  struct Seen {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Ticket> order;
  } seen;
  // Big batches go to backend 0, tiny ones to backend 1: the tiny ones finish
  // first inside, and must still be delivered after the big ones before them.
  const int kBatches = 16;
  std::vector<Packed> packed;
  std::vector<std::vector<float>> outs(kBatches);
  for (int i = 0; i < kBatches; ++i) {
    const auto s = i % 2 == 0 ? seqs(std::vector<int>(24, 100)) : seqs({2});
    packed.push_back(pack(s));
    outs[i].assign(s.size() * spec_.labels, NAN);
  }
  CompletionCallback cb{[](void* ctx, Ticket t, const BatchResult& r) {
                          auto* s = static_cast<Seen*>(ctx);
                          EXPECT_TRUE(r.ok) << r.error;
                          std::lock_guard lock(s->mu);
                          s->order.push_back(t);
                          s->cv.notify_all();
                        },
                        &seen};
  std::vector<Ticket> tickets;
  for (int i = 0; i < kBatches; ++i)
    tickets.push_back(
        rr->submit({packed[i].ids, packed[i].cu, packed[i].max_len}, {outs[i], {}}, cb));
  {
    std::unique_lock lock(seen.mu);
    ASSERT_TRUE(seen.cv.wait_for(lock, std::chrono::seconds(120),
                                 [&] { return seen.order.size() == kBatches; }));
  }
  EXPECT_EQ(seen.order, tickets);
  for (int i = 0; i < kBatches; ++i) {
    EXPECT_TRUE(rr->poll(tickets[i]));
    for (float v : outs[i]) ASSERT_TRUE(std::isfinite(v)) << "batch " << i;
  }
}

TEST_F(RoundRobin, WaitKeepsOrderAndRefusedBatchesLeaveNoHole) {
  auto rr = wrapper(2, 4);
  Packed big = pack(seqs(std::vector<int>(16, 120))), small = pack(seqs({3}));
  std::vector<float> lb(16 * 3), ls(3), ls2(3);
  const Ticket tb = rr->submit({big.ids, big.cu, big.max_len}, {lb, {}});
  const Ticket ts = rr->submit({small.ids, small.cu, small.max_len}, {ls, {}});
  EXPECT_EQ(ts, tb + 1);
  EXPECT_TRUE(rr->wait(ts).ok);
  EXPECT_TRUE(rr->poll(tb)) << "the later ticket completed before the earlier one";
  EXPECT_TRUE(rr->wait(tb).ok);
  EXPECT_THROW(rr->wait(tb), std::logic_error);

  std::vector<int32_t> bad_ids = {5, 300};  // 300 is outside the vocabulary
  const std::vector<int32_t> cu = {0, 2};
  EXPECT_THROW(rr->submit({bad_ids, cu, 2}, {ls2, {}}), std::invalid_argument);
  // The next good batch still completes: no ticket was spent on the refused one.
  EXPECT_TRUE(rr->wait(rr->submit({small.ids, small.cu, small.max_len}, {ls2, {}})).ok);
  EXPECT_EQ(ls, ls2);
}

TEST_F(RoundRobin, MemoryUsageSumsTheBackends) {
  auto one = cpu();
  auto rr = wrapper(2, 4);
  EXPECT_EQ(rr->memory_usage().weights_bytes, 2 * one->memory_usage().weights_bytes);
}

}  // namespace
}  // namespace sluice::engine
