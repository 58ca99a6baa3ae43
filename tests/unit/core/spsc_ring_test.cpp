// SpscRing: edges (full, empty, wrap-around), bulk calls, move-only items,
// blocking calls across threads with millions of items checked for order and
// loss, close/cancel semantics. Runs in the thread-sanitizer build too.
#include "src/core/spsc_ring.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <numeric>
#include <thread>
#include <vector>

namespace sluice::core {
namespace {

#if defined(__SANITIZE_THREAD__)
constexpr uint64_t kManyItems = 2'000'000;
#else
constexpr uint64_t kManyItems = 20'000'000;
#endif

TEST(SpscRing, RoundsCapacityUpToPowerOfTwo) {
  EXPECT_EQ(SpscRing<int>(1).capacity(), 2u);
  EXPECT_EQ(SpscRing<int>(5).capacity(), 8u);
  EXPECT_EQ(SpscRing<int>(1024).capacity(), 1024u);
  EXPECT_EQ(SpscRing<int>(1025).capacity(), 2048u);
}

TEST(SpscRing, RejectsPushWhenFullAndPopWhenEmpty) {
  SpscRing<int> q(4);
  int out = -1;
  EXPECT_FALSE(q.try_pop(out));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(q.try_push(int(i)));
  EXPECT_FALSE(q.try_push(99));
  EXPECT_EQ(q.size_approx(), 4u);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(q.try_pop(out));
    EXPECT_EQ(out, i);
  }
  EXPECT_FALSE(q.try_pop(out));
  EXPECT_TRUE(q.empty_approx());
}

TEST(SpscRing, KeepsFifoOrderAcrossManyWrapArounds) {
  SpscRing<uint64_t> q(8);
  uint64_t next_in = 0, next_out = 0, v = 0;
  for (int round = 0; round < 10'000; ++round) {
    int pushes = 1 + round % 8;
    for (int i = 0; i < pushes && q.try_push(uint64_t(next_in)); ++i) ++next_in;
    int pops = 1 + (round * 7) % 8;
    for (int i = 0; i < pops && q.try_pop(v); ++i) ASSERT_EQ(v, next_out++);
  }
  while (q.try_pop(v)) ASSERT_EQ(v, next_out++);
  EXPECT_EQ(next_in, next_out);
  EXPECT_GT(next_in, 30'000u);  // the ring of 8 wrapped thousands of times
}

TEST(SpscRing, BulkCallsMovePrefixesAndStopAtCapacity) {
  SpscRing<int> q(8);
  std::vector<int> in(20);
  std::iota(in.begin(), in.end(), 0);
  EXPECT_EQ(q.try_push_bulk(in.data(), 5), 5u);
  EXPECT_EQ(q.try_push_bulk(in.data() + 5, 10), 3u);  // only 3 slots left
  EXPECT_EQ(q.try_push_bulk(in.data() + 8, 1), 0u);
  std::vector<int> out(20, -1);
  EXPECT_EQ(q.try_pop_bulk(out.data(), 3), 3u);
  EXPECT_EQ(q.try_pop_bulk(out.data() + 3, 20), 5u);
  EXPECT_EQ(q.try_pop_bulk(out.data() + 8, 20), 0u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(out[i], i);
  // Wrap: the next bulk push straddles the end of the storage.
  EXPECT_EQ(q.try_push_bulk(in.data() + 8, 8), 8u);
  EXPECT_EQ(q.try_pop_bulk(out.data(), 8), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(out[i], 8 + i);
}

TEST(SpscRing, CarriesMoveOnlyItems) {
  SpscRing<std::unique_ptr<int>> q(4);
  EXPECT_TRUE(q.try_push(std::make_unique<int>(7)));
  EXPECT_TRUE(q.try_emplace(new int(8)));
  std::unique_ptr<int> out;
  ASSERT_TRUE(q.try_pop(out));
  EXPECT_EQ(*out, 7);
  ASSERT_TRUE(q.try_pop(out));
  EXPECT_EQ(*out, 8);
}

struct Counted {
  static inline std::atomic<int> live{0};
  Counted() { ++live; }
  Counted(Counted&&) noexcept { ++live; }
  Counted& operator=(Counted&&) noexcept = default;
  ~Counted() { --live; }
};

TEST(SpscRing, DestroysItemsLeftInsideOnDestruction) {
  {
    SpscRing<Counted> q(8);
    for (int i = 0; i < 8; ++i) q.try_emplace();
    Counted c;
    q.try_pop(c);
    q.try_pop(c);
    EXPECT_EQ(Counted::live.load(), 7);  // 6 inside + c
  }
  EXPECT_EQ(Counted::live.load(), 0);
}

// Many millions of items through a small ring with the blocking calls: every
// value arrives exactly once and in order.
TEST(SpscRing, BlockingTransferLosesAndReordersNothing) {
  SpscRing<uint64_t> q(256);
  std::thread producer([&] {
    for (uint64_t i = 0; i < kManyItems; ++i) ASSERT_TRUE(q.push(uint64_t(i)));
    q.close();
  });
  uint64_t expected = 0, v = 0, sum = 0;
  while (q.pop(v)) {
    ASSERT_EQ(v, expected);
    ++expected;
    sum += v;
  }
  producer.join();
  EXPECT_EQ(expected, kManyItems);
  EXPECT_EQ(sum, kManyItems * (kManyItems - 1) / 2);
}

// Same with the bulk calls and explicit notifications, in odd-sized chunks.
TEST(SpscRing, BulkTransferAcrossThreadsKeepsOrder) {
  SpscRing<uint64_t> q(64);
  const uint64_t n = kManyItems / 4;
  std::thread producer([&] {
    std::vector<uint64_t> chunk(37);
    uint64_t i = 0;
    while (i < n) {
      size_t k = std::min<uint64_t>(chunk.size(), n - i);
      for (size_t j = 0; j < k; ++j) chunk[j] = i + j;
      size_t done = 0;
      while (done < k) {
        size_t pushed = q.try_push_bulk(chunk.data() + done, k - done);
        if (pushed)
          q.notify_consumer();
        else
          cpu_relax();
        done += pushed;
      }
      i += k;
    }
    q.close();
  });
  std::vector<uint64_t> buf(29);
  uint64_t expected = 0;
  for (;;) {
    size_t got = q.try_pop_bulk(buf.data(), buf.size());
    for (size_t j = 0; j < got; ++j) ASSERT_EQ(buf[j], expected++);
    if (got == 0) {
      if (q.closed() && q.empty_approx()) break;
      cpu_relax();
    }
  }
  producer.join();
  EXPECT_EQ(expected, n);
}

TEST(SpscRing, CloseLetsConsumerDrainThenStop) {
  SpscRing<int> q(8);
  q.push(1);
  q.push(2);
  q.close();
  int v = 0;
  ASSERT_TRUE(q.pop(v));
  EXPECT_EQ(v, 1);
  ASSERT_TRUE(q.pop(v));
  EXPECT_EQ(v, 2);
  EXPECT_FALSE(q.pop(v));
}

TEST(SpscRing, CancelWakesBlockedProducer) {
  SpscRing<int> q(2);
  q.push(1);
  q.push(2);
  std::atomic<int> result{-1};
  std::thread producer([&] { result = q.push(3) ? 1 : 0; });  // blocks: full
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(result.load(), -1);
  q.cancel();
  producer.join();
  EXPECT_EQ(result.load(), 0);
}

TEST(SpscRing, BlockedConsumerWakesOnPush) {
  SpscRing<int> q(2);
  std::atomic<int> got{0};
  std::thread consumer([&] {
    int v = 0;
    if (q.pop(v)) got = v;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(got.load(), 0);
  q.push(42);
  consumer.join();
  EXPECT_EQ(got.load(), 42);
}

}  // namespace
}  // namespace sluice::core
