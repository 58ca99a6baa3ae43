// The backend ticket protocol (src/engine/ticket_ring.h) on its own: order,
// backpressure, retirement, shutdown, and completions racing from several
// threads (also run under the thread sanitizer: label tsan).
#include "src/engine/ticket_ring.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace sluice::engine {
namespace {

// Records the tickets its callbacks retire, in order.
struct Delivered {
  std::mutex mu;
  std::vector<Ticket> tickets;

  static void on_done(void* ctx, Ticket t, const BatchResult& r) {
    auto* self = static_cast<Delivered*>(ctx);
    std::lock_guard lock(self->mu);
    self->tickets.push_back(t);
    EXPECT_EQ(r.compute_ns, static_cast<int64_t>(t));  // its own result
  }
  CompletionCallback callback() { return {&Delivered::on_done, this}; }
  std::vector<Ticket> get() {
    std::lock_guard lock(mu);
    return tickets;
  }
};

BatchResult result_of(Ticket t) {
  BatchResult r;
  r.compute_ns = static_cast<int64_t>(t);
  return r;
}

TEST(TicketRing, DeliversInTicketOrderWhenResultsArriveOutOfOrder) {
  TicketRing ring("test backend", 4);
  Delivered d;
  for (Ticket want = 1; want <= 4; ++want) EXPECT_EQ(ring.claim(d.callback()), want);
  ring.complete(3, result_of(3));
  EXPECT_EQ(d.get(), std::vector<Ticket>{});
  EXPECT_FALSE(ring.poll(1));
  ring.complete(1, result_of(1));
  EXPECT_EQ(d.get(), std::vector<Ticket>{1});
  EXPECT_TRUE(ring.poll(1));
  EXPECT_FALSE(ring.poll(2));
  ring.complete(4, result_of(4));
  EXPECT_EQ(d.get(), std::vector<Ticket>{1});
  ring.complete(2, result_of(2));
  EXPECT_EQ(d.get(), (std::vector<Ticket>{1, 2, 3, 4}));
  EXPECT_TRUE(ring.poll(4));
}

TEST(TicketRing, WaitRetiresOnceAndRefusesCallbackTickets) {
  TicketRing ring("test backend", 2);
  Delivered d;
  const Ticket a = ring.claim({});
  const Ticket b = ring.claim(d.callback());
  ring.complete(b, result_of(b));
  EXPECT_EQ(d.get(), std::vector<Ticket>{});  // waits behind a
  ring.complete(a, result_of(a));
  EXPECT_EQ(d.get(), std::vector<Ticket>{b});
  EXPECT_EQ(ring.wait(a).compute_ns, static_cast<int64_t>(a));
  try {
    ring.wait(a);
    FAIL() << "a ticket was retired twice";
  } catch (const std::logic_error& e) {
    EXPECT_STREQ(e.what(),
                 "test backend: wait() on a ticket that is not outstanding or has a callback");
  }
  const Ticket c = ring.claim(d.callback());
  EXPECT_THROW(ring.wait(c), std::logic_error);
}

TEST(TicketRing, ClaimBlocksWhileTheSlotsTicketIsOutstanding) {
  TicketRing ring("test backend", 2);
  const Ticket a = ring.claim({});
  ring.claim({});
  std::atomic<Ticket> third{0};
  std::thread submitter([&] { third = ring.claim({}); });  // slot of a
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(third.load(), 0u);
  ring.complete(a, result_of(a));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(third.load(), 0u);  // completed, not yet retired by wait()
  ring.wait(a);
  submitter.join();
  EXPECT_EQ(third.load(), 3u);
}

TEST(TicketRing, StopHandsOutWhatIsPublishedThenEnds) {
  TicketRing ring("test backend", 2);
  Delivered d;
  const Ticket a = ring.claim(d.callback());
  ring.publish(a);
  ring.stop();
  EXPECT_TRUE(ring.wait_published(a));
  ring.complete(a, result_of(a));
  EXPECT_FALSE(ring.wait_published(a + 1));
  EXPECT_EQ(d.get(), std::vector<Ticket>{a});
}

// A submit thread, a completion thread that finishes the published tickets on
// two "devices", and the devices completing concurrently in any order: every
// ticket is delivered once, in order, and the ring never holds more than its slots.
TEST(TicketRing, ConcurrentCompletionsDeliverEveryTicketOnceInOrder) {
  constexpr Ticket kTickets = 20'000;
  TicketRing ring("test backend", 3);
  Delivered d;
  std::mutex queue_mu;
  std::deque<Ticket> queues[2];
  std::atomic<bool> done{false};
  std::vector<std::thread> devices;
  for (int dev = 0; dev < 2; ++dev) {
    devices.emplace_back([&, dev] {
      for (;;) {
        Ticket t = 0;
        {
          std::lock_guard lock(queue_mu);
          if (!queues[dev].empty()) {
            t = queues[dev].front();
            queues[dev].pop_front();
          }
        }
        if (t != 0) {
          ring.complete(t, result_of(t));
        } else if (done) {
          return;
        } else {
          std::this_thread::yield();
        }
      }
    });
  }
  std::thread completer([&] {
    for (Ticket t = 1; ring.wait_published(t); ++t) {
      std::lock_guard lock(queue_mu);
      queues[t % 2].push_back(t);
    }
  });
  std::vector<Ticket> waited;
  for (Ticket i = 1; i <= kTickets; ++i) {
    const bool with_callback = i % 5 != 0;
    const Ticket t = ring.claim(with_callback ? d.callback() : CompletionCallback{});
    ASSERT_EQ(t, i);
    ring.publish(t);
    if (!with_callback) {
      EXPECT_EQ(ring.wait(t).compute_ns, static_cast<int64_t>(t));
      EXPECT_TRUE(ring.poll(t));
      waited.push_back(t);
    }
  }
  // Retire the last tickets' completion, then stop.
  while (!ring.poll(kTickets)) std::this_thread::yield();
  ring.stop();
  completer.join();
  done = true;
  for (auto& t : devices) t.join();

  const auto delivered = d.get();
  ASSERT_EQ(delivered.size() + waited.size(), kTickets);
  for (std::size_t i = 1; i < delivered.size(); ++i) ASSERT_LT(delivered[i - 1], delivered[i]);
}

}  // namespace
}  // namespace sluice::engine
