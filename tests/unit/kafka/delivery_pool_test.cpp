#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "src/core/offset_tracker.h"
#include "src/kafka/delivery.h"

namespace sluice::kafka {
namespace {

TEST(DeliveryPool, HandsOutEachSlotOnceUntilReleased) {
  DeliveryPool pool(3);
  std::set<Delivery*> got;
  for (int i = 0; i < 3; ++i) got.insert(pool.acquire());
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(got.count(nullptr), 0u);
  EXPECT_EQ(pool.acquire(), nullptr);
  EXPECT_EQ(pool.in_use(), 3u);
  Delivery* d = *got.begin();
  pool.release(d);
  EXPECT_EQ(pool.acquire(), d);
}

TEST(DeliveryPool, ReleaseResetsTheSlot) {
  core::OffsetTracker tracker(4);
  auto slot = tracker.open();
  DeliveryPool pool(1);
  Delivery* d = pool.acquire();
  d->ack = core::Ack(&tracker, tracker.track(slot, 0));
  d->topic = 7;
  d->source_timestamp_ms = 99;
  d->ack.complete();
  pool.release(d);
  Delivery* again = pool.acquire();
  EXPECT_TRUE(again->ack.empty());
  EXPECT_EQ(again->topic, core::kNoTopic);
  EXPECT_EQ(again->source_timestamp_ms, -1);
}

// Senders on several threads, releasers on others (as delivery reports):
// no slot is ever held twice at once.
TEST(DeliveryPool, ConcurrentAcquireReleaseNeverSharesASlot) {
  constexpr int kThreads = 4;
  constexpr int kOps = 50000;
  constexpr int kSlots = 64;
  DeliveryPool pool(kSlots);
  std::map<Delivery*, int> index;  // read-only once the threads run
  {
    std::vector<Delivery*> all;
    for (int i = 0; i < kSlots; ++i) all.push_back(pool.acquire());
    for (int i = 0; i < kSlots; ++i) index[all[i]] = i;
    for (Delivery* d : all) pool.release(d);
  }
  std::vector<std::atomic<int>> holders(kSlots);
  for (auto& h : holders) h.store(0);
  std::atomic<int> shared{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Delivery*> held;
      for (int i = 0; i < kOps; ++i) {
        if (Delivery* d = pool.acquire()) {
          if (holders[index.at(d)].fetch_add(1) != 0) shared.fetch_add(1);
          d->topic = t;  // a write to the slot: the sanitizer sees any overlap
          held.push_back(d);
        }
        if (held.size() > static_cast<size_t>(t + 1) || (!held.empty() && i % 3 == 0)) {
          Delivery* d = held.back();
          held.pop_back();
          holders[index.at(d)].fetch_sub(1);
          pool.release(d);
        }
      }
      for (Delivery* d : held) {
        holders[index.at(d)].fetch_sub(1);
        pool.release(d);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(shared.load(), 0);
  EXPECT_EQ(pool.in_use(), 0u);
  std::set<Delivery*> all;
  for (int i = 0; i < kSlots; ++i) all.insert(pool.acquire());
  EXPECT_EQ(all.size(), static_cast<size_t>(kSlots));
  EXPECT_EQ(all.count(nullptr), 0u);
  EXPECT_EQ(pool.acquire(), nullptr);
}

}  // namespace
}  // namespace sluice::kafka
