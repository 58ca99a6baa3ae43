#include "src/core/offset_tracker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "src/core/ack.h"

namespace sluice::core {
namespace {

TEST(OffsetTracker, NothingTrackedHasNothingToCommit) {
  OffsetTracker t(8);
  auto s = t.open();
  EXPECT_EQ(t.committable(s), -1);
  EXPECT_EQ(t.in_flight(s), 0u);
}

TEST(OffsetTracker, InOrderCompletionCommitsPastTheLastRecord) {
  OffsetTracker t(8);
  auto s = t.open();
  uint64_t a = t.track(s, 100), b = t.track(s, 101), c = t.track(s, 102);
  EXPECT_EQ(t.committable(s), 100);
  t.complete(a);
  EXPECT_EQ(t.committable(s), 101);
  t.complete(b);
  t.complete(c);
  EXPECT_EQ(t.committable(s), 103);
  EXPECT_EQ(t.in_flight(s), 0u);
  EXPECT_EQ(t.in_flight(), 0u);
}

TEST(OffsetTracker, OutOfOrderCompletionCommitsLowestNotDone) {
  OffsetTracker t(8);
  auto s = t.open();
  std::vector<uint64_t> tok;
  for (int64_t o = 0; o < 5; ++o) tok.push_back(t.track(s, o));
  t.complete(tok[3]);
  t.complete(tok[1]);
  t.complete(tok[4]);
  EXPECT_EQ(t.committable(s), 0);  // offset 0 is not done: nothing may be skipped
  EXPECT_EQ(t.in_flight(s), 5u);
  t.complete(tok[0]);
  EXPECT_EQ(t.committable(s), 2);  // 0 and 1 done, 2 is the lowest not done
  EXPECT_EQ(t.in_flight(s), 3u);
  t.complete(tok[2]);
  EXPECT_EQ(t.committable(s), 5);
  EXPECT_EQ(t.in_flight(s), 0u);
}

TEST(OffsetTracker, OffsetGapsCommitTheNextTrackedOffset) {
  // Compacted topics and transaction markers leave gaps between offsets.
  OffsetTracker t(8);
  auto s = t.open();
  uint64_t a = t.track(s, 10), b = t.track(s, 15);
  t.track(s, 20);
  t.complete(a);
  t.complete(b);
  EXPECT_EQ(t.committable(s), 20);
}

TEST(OffsetTracker, SharedAckIsDoneOnlyWhenEveryShareCompletes) {
  OffsetTracker t(8);
  auto s = t.open();
  Ack first(&t, t.track(s, 7));
  Ack second = first.share();
  Ack third = second.share();
  first.complete();
  third.complete();
  EXPECT_EQ(t.committable(s), 7);
  second.complete();
  EXPECT_EQ(t.committable(s), 8);
}

TEST(OffsetTracker, FullPartitionFreesRoomOnceItsPrefixIsDone) {
  OffsetTracker t(4);
  auto s = t.open();
  EXPECT_EQ(t.partition_capacity(), 4u);
  std::vector<uint64_t> tok;
  for (int64_t o = 0; o < 4; ++o) tok.push_back(t.track(s, o));
  EXPECT_TRUE(t.full(s));
  t.complete(tok[1]);
  t.committable(s);
  EXPECT_TRUE(t.full(s));  // offset 0 still holds the ring
  t.complete(tok[0]);
  EXPECT_EQ(t.committable(s), 2);
  EXPECT_FALSE(t.full(s));
  // The ring wraps: new records reuse the released entries.
  uint64_t e = t.track(s, 4), f = t.track(s, 5);
  EXPECT_TRUE(t.full(s));
  t.complete(tok[2]);
  t.complete(tok[3]);
  t.complete(f);
  EXPECT_EQ(t.committable(s), 4);
  t.complete(e);
  EXPECT_EQ(t.committable(s), 6);
}

TEST(OffsetTracker, PartitionsAreIndependent) {
  OffsetTracker t(8);
  auto p0 = t.open(), p1 = t.open();
  uint64_t a = t.track(p0, 0);
  uint64_t b = t.track(p1, 50);
  t.track(p1, 51);
  t.complete(b);
  EXPECT_EQ(t.committable(p0), 0);
  EXPECT_EQ(t.committable(p1), 51);
  EXPECT_EQ(t.in_flight(), 2u);
  t.complete(a);
  EXPECT_EQ(t.committable(p0), 1);
  EXPECT_EQ(t.in_flight(), 1u);
}

TEST(OffsetTracker, ClosedPartitionDropsInFlightAndIgnoresLateAcks) {
  OffsetTracker t(4);
  auto s = t.open();
  uint64_t a = t.track(s, 0), b = t.track(s, 1);
  EXPECT_EQ(t.in_flight(), 2u);
  t.close(s);
  EXPECT_EQ(t.in_flight(), 0u);
  // The slot is reused for the next assignment (possibly another partition).
  auto s2 = t.open();
  EXPECT_EQ(s2, s);
  EXPECT_EQ(t.committable(s2), -1);
  uint64_t c = t.track(s2, 500);
  t.complete(a);  // late acks of the revoked assignment
  t.complete(b);
  EXPECT_EQ(t.committable(s2), 500);
  t.complete(c);
  EXPECT_EQ(t.committable(s2), 501);
}

TEST(OffsetTracker, LateAckDoesNotTouchAnEntryReusedByANewAssignment) {
  OffsetTracker t(2);
  auto s = t.open();
  uint64_t stale = t.track(s, 0);  // sequence 0, entry 0
  t.track(s, 1);
  t.close(s);
  auto s2 = t.open();
  uint64_t n0 = t.track(s2, 10);  // sequence 2 lands in entry 0 again
  uint64_t n1 = t.track(s2, 11);
  t.complete(stale);  // must not complete offset 10
  EXPECT_EQ(t.committable(s2), 10);
  Ack stale_ack(&t, stale);
  Ack stale_share = stale_ack.share();  // a late retain is ignored too
  t.complete(n0);
  t.complete(n1);
  EXPECT_EQ(t.committable(s2), 12);
}

TEST(OffsetTracker, OpenFailsBeyondMaxPartitions) {
  OffsetTracker t(2, 2);
  t.open();
  auto s = t.open();
  EXPECT_THROW(t.open(), std::length_error);
  t.close(s);
  EXPECT_EQ(t.open(), s);
}

// Tokens cross threads (as through the pipeline); workers complete them in any
// order, some after sharing. Every committable offset the owner sees must be
// covered: all offsets below it are done. At the end everything is committed.
TEST(OffsetTracker, ConcurrentCompletionNeverCommitsPastAnUnfinishedRecord) {
  constexpr int kPartitions = 4;
  constexpr int kWorkers = 4;
  constexpr int64_t kPerPartition = 20000;
  OffsetTracker t(256);
  std::vector<OffsetTracker::Slot> slots;
  for (int p = 0; p < kPartitions; ++p) slots.push_back(t.open());

  std::vector<std::unique_ptr<std::atomic<bool>[]>> done;
  for (int p = 0; p < kPartitions; ++p) {
    done.emplace_back(new std::atomic<bool>[kPerPartition]);
    for (int64_t o = 0; o < kPerPartition; ++o) done[p][o].store(false);
  }

  struct Job {
    int partition;
    int64_t offset;
    uint64_t token;
  };
  std::mutex mu;
  std::vector<std::vector<Job>> queues(kWorkers);
  std::atomic<bool> producing{true};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      std::mt19937 rng(w);
      std::vector<Job> mine;
      for (;;) {
        {
          std::lock_guard lock(mu);
          std::swap(mine, queues[w]);
        }
        if (mine.empty()) {
          if (!producing.load()) {
            std::lock_guard lock(mu);
            if (queues[w].empty()) return;
            continue;
          }
          std::this_thread::yield();
          continue;
        }
        std::shuffle(mine.begin(), mine.end(), rng);
        for (const Job& j : mine) {
          Ack ack(&t, j.token);
          if (j.offset % 3 == 0) {
            // Two outputs: the record is done only after the second one, so
            // it is marked done in between.
            Ack extra = ack.share();
            ack.complete();
            done[j.partition][j.offset].store(true, std::memory_order_release);
            extra.complete();
          } else {
            done[j.partition][j.offset].store(true, std::memory_order_release);
            ack.complete();
          }
        }
        mine.clear();
      }
    });
  }

  std::vector<int64_t> next(kPartitions, 0);
  std::vector<int64_t> committed(kPartitions, -1);
  auto check = [&](int p) {
    int64_t c = t.committable(slots[p]);
    ASSERT_GE(c, committed[p]);
    for (int64_t o = std::max<int64_t>(committed[p], 0); o < c; ++o) {
      ASSERT_TRUE(done[p][o].load(std::memory_order_acquire))
          << "partition " << p << " offset " << o;
    }
    committed[p] = c;
  };
  int rr = 0;
  bool more = true;
  while (more) {
    more = false;
    for (int p = 0; p < kPartitions; ++p) {
      if (next[p] == kPerPartition) continue;
      more = true;
      check(p);
      if (t.full(slots[p])) continue;
      uint64_t tok = t.track(slots[p], next[p]);
      {
        std::lock_guard lock(mu);
        queues[rr++ % kWorkers].push_back(Job{p, next[p], tok});
      }
      ++next[p];
    }
  }
  producing.store(false);
  for (auto& th : workers) th.join();
  for (int p = 0; p < kPartitions; ++p) {
    check(p);
    EXPECT_EQ(committed[p], kPerPartition);
  }
  EXPECT_EQ(t.in_flight(), 0u);
}

// Acks keep arriving from workers while the owner revokes and re-assigns the
// partition; the new assignment's commits depend only on its own records.
TEST(OffsetTracker, RevocationDuringConcurrentCompletionIsolatesAssignments) {
  OffsetTracker t(64);
  constexpr int kRounds = 200;
  std::mutex mu;
  std::vector<uint64_t> pending;
  std::atomic<bool> running{true};
  std::thread worker([&] {
    std::vector<uint64_t> mine;
    while (running.load() || !mine.empty()) {
      {
        std::lock_guard lock(mu);
        std::swap(mine, pending);
      }
      for (uint64_t tok : mine) t.complete(tok);
      mine.clear();
      std::this_thread::yield();
    }
  });

  for (int round = 0; round < kRounds; ++round) {
    auto s = t.open();
    // Records handed to the worker: they may complete before or after close.
    for (int64_t o = 0; o < 32; ++o) {
      uint64_t tok = t.track(s, o);
      std::lock_guard lock(mu);
      pending.push_back(tok);
    }
    // One record kept by this thread: the partition can never commit past it,
    // whatever stale acks from earlier rounds do to the reused entries.
    uint64_t held = t.track(s, 32);
    for (int64_t o = 33; o < 48; ++o) {
      uint64_t tok = t.track(s, o);
      std::lock_guard lock(mu);
      pending.push_back(tok);
    }
    int64_t c = t.committable(s);
    ASSERT_LE(c, 32);
    if (round % 2 == 0) {
      t.complete(held);
    }
    t.close(s);
  }
  running.store(false);
  worker.join();
  EXPECT_EQ(t.in_flight(), 0u);
}

}  // namespace
}  // namespace sluice::core
