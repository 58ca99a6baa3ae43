// The CPU backend through the Backend interface: batch composition does not
// change a record's logits, tickets complete in order through wait() or a
// callback, malformed batches are refused, and steady state allocates nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/device_query.h"
#include "src/engine/backend_factory.h"
#include "src/engine/model.h"
#include "tests/support/model_fixtures.h"

namespace sluice::engine {
namespace {

const char* kModelArgs =
    "--arch bert --layers 2 --hidden 64 --heads 4 --intermediate 128 --vocab 300 --labels 3 --seed "
    "11";

class BackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ =
        std::make_unique<Model>(Model::load(testing::random_model("backend-bert", kModelArgs)));
  }
  static void TearDownTestSuite() { model_.reset(); }

  std::unique_ptr<Backend> make(int in_flight = 2, int64_t reserve_tokens = 64) {
    BackendOptions o;
    o.device = "cpu";
    o.threads = 2;
    o.max_in_flight = in_flight;
    o.max_batch_tokens = reserve_tokens;
    o.max_batch_records = 8;
    return make_backend(*model_, o);
  }

  static std::vector<std::vector<int32_t>> records(int n, uint32_t seed) {
    std::mt19937 g(seed);
    std::uniform_int_distribution<int> len(1, 40), id(1, 299);
    std::vector<std::vector<int32_t>> r(n);
    for (auto& s : r) {
      s.resize(len(g));
      for (auto& t : s) t = id(g);
    }
    return r;
  }

  struct Packed {
    std::vector<int32_t> ids, cu{0};
    int32_t max_len = 0;
    EncoderBatch batch() const { return {ids, cu, max_len}; }
  };
  static Packed pack(const std::vector<std::vector<int32_t>>& seqs) {
    Packed p;
    for (const auto& s : seqs) {
      p.ids.insert(p.ids.end(), s.begin(), s.end());
      p.cu.push_back(static_cast<int32_t>(p.ids.size()));
      p.max_len = std::max(p.max_len, static_cast<int32_t>(s.size()));
    }
    return p;
  }
  std::vector<float> logits_of(Backend& b, const std::vector<std::vector<int32_t>>& seqs) {
    Packed p = pack(seqs);
    std::vector<float> out(seqs.size() * 3);
    BatchResult r = b.run(p.batch(), {out, {}});
    EXPECT_TRUE(r.ok) << r.error;
    return out;
  }

  static std::unique_ptr<Model> model_;
};
std::unique_ptr<Model> BackendTest::model_;

TEST_F(BackendTest, RecordGetsTheSameLogitsAloneOrInAnyBatch) {
  auto backend = make();
  const auto recs = records(12, 1);
  std::vector<std::vector<float>> alone;
  for (const auto& r : recs) alone.push_back(logits_of(*backend, {r}));
  // In one batch, in reverse order, and split with other records around.
  const auto all = logits_of(*backend, recs);
  auto reversed = recs;
  std::reverse(reversed.begin(), reversed.end());
  const auto rev = logits_of(*backend, reversed);
  const auto others = records(5, 2);
  for (size_t i = 0; i < recs.size(); ++i) {
    for (int l = 0; l < 3; ++l) {
      // Bit-identical: every op reduces within a row (GEMM over K, norms over
      // a row, attention within its own sequence) in an order that does not
      // depend on how many other rows share the batch.
      EXPECT_EQ(all[i * 3 + l], alone[i][l]) << "record " << i;
      EXPECT_EQ(rev[(recs.size() - 1 - i) * 3 + l], alone[i][l]) << "record " << i;
    }
    auto mixed = others;
    mixed.insert(mixed.begin() + static_cast<long>(i % others.size()), recs[i]);
    const auto m = logits_of(*backend, mixed);
    for (int l = 0; l < 3; ++l) EXPECT_EQ(m[(i % others.size()) * 3 + l], alone[i][l]);
  }
  // Distinct records really do get distinct logits (the comparison above is not vacuous).
  EXPECT_NE(alone[0], alone[1]);
}

TEST_F(BackendTest, SameBatchTwiceGivesBitIdenticalLogits) {
  auto backend = make();
  const auto recs = records(9, 3);
  EXPECT_EQ(logits_of(*backend, recs), logits_of(*backend, recs));
}

TEST_F(BackendTest, CallbacksArriveInSubmitOrderWithOutputsWritten) {
  auto backend = make(/*in_flight=*/3);
  struct Seen {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Ticket> order;
  } seen;
  const int kBatches = 7;
  std::vector<Packed> packed;
  std::vector<std::vector<float>> outs(kBatches);
  for (int i = 0; i < kBatches; ++i) {
    packed.push_back(pack(records(3 + i, 100 + i)));
    outs[i].assign((3 + i) * 3, std::nanf(""));
  }
  std::vector<Ticket> tickets;
  CompletionCallback cb{[](void* ctx, Ticket t, const BatchResult& r) {
                          auto* s = static_cast<Seen*>(ctx);
                          EXPECT_TRUE(r.ok);
                          EXPECT_GT(r.compute_ns, 0);
                          std::lock_guard lock(s->mu);
                          s->order.push_back(t);
                          s->cv.notify_all();
                        },
                        &seen};
  for (int i = 0; i < kBatches; ++i)
    tickets.push_back(backend->submit(packed[i].batch(), {outs[i], {}}, cb));
  {
    std::unique_lock lock(seen.mu);
    seen.cv.wait(lock, [&] { return seen.order.size() == kBatches; });
  }
  EXPECT_EQ(seen.order, tickets);
  for (int i = 0; i < kBatches; ++i) {
    EXPECT_TRUE(backend->poll(tickets[i]));
    for (float v : outs[i]) EXPECT_TRUE(std::isfinite(v));
    EXPECT_EQ(outs[i], logits_of(*backend, records(3 + i, 100 + i)));
  }
}

TEST_F(BackendTest, WaitRetiresTicketAndPollSeesCompletion) {
  auto backend = make(/*in_flight=*/2);
  Packed a = pack(records(4, 7)), b = pack(records(2, 8));
  std::vector<float> la(12), lb(6);
  const Ticket ta = backend->submit(a.batch(), {la, {}});
  const Ticket tb = backend->submit(b.batch(), {lb, {}});
  EXPECT_LT(ta, tb);
  BatchResult rb = backend->wait(tb);  // out of order is fine: b completes after a
  EXPECT_TRUE(rb.ok);
  EXPECT_TRUE(backend->poll(ta));
  EXPECT_TRUE(backend->wait(ta).ok);
  EXPECT_THROW(backend->wait(ta), std::logic_error);  // already retired
  // A third submit reuses a freed slot without blocking forever.
  std::vector<float> lc(12);
  EXPECT_TRUE(backend->wait(backend->submit(a.batch(), {lc, {}})).ok);
  EXPECT_EQ(la, lc);
}

TEST_F(BackendTest, RefusesMalformedBatches) {
  auto backend = make();
  std::vector<int32_t> ids = {5, 6, 7};
  std::vector<float> logits(3), pooled(64);
  const std::vector<int32_t> bad_end = {0, 2};
  EXPECT_THROW(backend->submit({ids, bad_end, 3}, {logits, {}}), std::invalid_argument);
  const std::vector<int32_t> cu = {0, 3};
  EXPECT_THROW(backend->submit({ids, cu, 2}, {logits, {}}),
               std::invalid_argument);  // max_seqlen too small
  std::vector<int32_t> out_of_vocab = {5, 300, 7};
  EXPECT_THROW(backend->submit({out_of_vocab, cu, 3}, {logits, {}}), std::invalid_argument);
  std::vector<float> short_logits(2);
  EXPECT_THROW(backend->submit({ids, cu, 3}, {short_logits, {}}), std::invalid_argument);
  std::vector<int32_t> too_long(129, 5);
  const std::vector<int32_t> cu_long = {0, 129};
  EXPECT_THROW(backend->submit({too_long, cu_long, 129}, {logits, {}}), std::invalid_argument);
  EXPECT_TRUE(backend->run({ids, cu, 3}, {logits, pooled}).ok);
}

TEST_F(BackendTest, WorkspaceGrowsOnceThenStaysForRepeatedBatches) {
  auto backend = make(2, /*reserve_tokens=*/16);
  const MemoryUsage start = backend->memory_usage();
  EXPECT_GT(start.weights_bytes, static_cast<size_t>(model_->parameter_count()) * 3);
  EXPECT_GT(start.workspace_bytes, 0u);
  const auto big = records(8, 9);  // more than 16 tokens
  logits_of(*backend, big);
  const size_t grown = backend->memory_usage().workspace_bytes;
  EXPECT_GT(grown, start.workspace_bytes);
  for (int i = 0; i < 5; ++i) logits_of(*backend, big);
  logits_of(*backend, records(3, 10));
  EXPECT_EQ(backend->memory_usage().workspace_bytes, grown);
}

TEST_F(BackendTest, DescribesItsDevice) {
  auto backend = make();
  EXPECT_EQ(backend->kind(), "cpu");
  const std::string name = backend->device_name();
  EXPECT_NE(name.find("oneDNN"), std::string::npos) << name;
  EXPECT_NE(name.find("2 threads"), std::string::npos) << name;
}

TEST(BackendFactory, RejectsUnknownAndUnavailableDevices) {
  Model m = Model::load(testing::random_model("backend-bert", kModelArgs));
  EXPECT_THROW(make_backend(m, BackendOptions{.device = "tpu"}), std::invalid_argument);
  EXPECT_THROW(make_backend(m, BackendOptions{.device = "cuda:x"}), std::invalid_argument);
  const bool gpu = !cuda::usable_devices(cuda::query_devices()).empty();
  if (gpu) {
    EXPECT_EQ(make_backend(m, BackendOptions{.device = "cuda"})->kind(), "cuda");
    EXPECT_THROW(make_backend(m, BackendOptions{.device = "cuda:999"}), std::invalid_argument);
  } else {
    EXPECT_THROW(make_backend(m, BackendOptions{.device = "cuda"}), std::invalid_argument);
  }
  EXPECT_EQ(make_backend(m, BackendOptions{.device = "auto", .threads = 1})->kind(),
            gpu ? "cuda" : "cpu");
}

// What make_backend would build on, without a model: the same refusals.
TEST(BackendFactory, SelectDevicesChecksTheChoiceAsMakeBackendDoes) {
  EXPECT_TRUE(select_devices(BackendOptions{.device = "cpu"}).empty());
  EXPECT_THROW(select_devices(BackendOptions{.device = "tpu"}), std::invalid_argument);
  EXPECT_THROW(select_devices(BackendOptions{.device = "cuda:x"}), std::invalid_argument);
  const std::vector<int> usable = cuda::usable_devices(cuda::query_devices());
  if (usable.empty()) {
    EXPECT_THROW(select_devices(BackendOptions{.device = "cuda"}), std::invalid_argument);
    EXPECT_TRUE(select_devices(BackendOptions{.device = "auto"}).empty());
  } else {
    const std::string first = "cuda:" + std::to_string(usable.front());
    EXPECT_EQ(select_devices(BackendOptions{.device = first}), std::vector<int>{usable.front()});
    EXPECT_EQ(select_devices(BackendOptions{.device = "auto"}), std::vector<int>{usable.front()});
    EXPECT_THROW(select_devices(BackendOptions{.device = "cuda:999"}), std::invalid_argument);
  }
}

}  // namespace
}  // namespace sluice::engine
