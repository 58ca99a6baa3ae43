// The ticket protocol of backend.h, written once for every backend (CPU, CUDA,
// round-robin over devices): tickets numbered from 1 in submit order, one slot
// per ticket in flight (ticket t uses slot(t) = t % slots), backpressure in
// submit(), completion in ticket order, and each ticket retired exactly once,
// by wait() or by its CompletionCallback.
//
// A backend keeps what a batch needs (inputs, buffers, a stream) in an array of
// its own indexed by slot(t), and drives the ring:
//
//   submit thread  t = claim(on_done)    blocks while slot(t) holds an earlier
//                                        ticket not yet retired (backpressure)
//                  ...fill slot(t)...    the slot is the submit thread's
//                  publish(t)            hands the slot to the completion side
//   completion     wait_published(t)     for t = 1, 2, ...; false once stop() was
//                                        called and t is not published
//                  ...run it...          the slot is the completion side's
//                  complete(t, result)   the slot goes back to the ring
//
// publish()/wait_published() are for a backend with a completion thread; one
// whose batches complete elsewhere (the round-robin backend: inner backends'
// callbacks) calls complete() without them. complete() may be called from any
// thread and out of ticket order: a result waits until every earlier ticket has
// completed. Then the ticket is retired: its slot is free for claim() again and
// its callback runs (on the thread that called complete() for it or for an
// earlier ticket; callbacks run one at a time, in ticket order), or wait()
// returns its result.
//
// Threading: claim/publish/poll/wait from one thread at a time (the backend's
// submit side); wait_published from the one completion thread; complete and
// stop from any thread. Callbacks must not call claim() or wait().
// Header-only: the backends in kernels/ do not link sluice_engine.
#pragma once
#include <atomic>
#include <cassert>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "src/engine/backend.h"

namespace sluice::engine {

class TicketRing {
 public:
  // `owner` names the backend in errors ("cpu backend"); slots >= 1.
  TicketRing(std::string owner, std::size_t slots)
      : owner_(std::move(owner)), slots_(slots < 1 ? 1 : slots) {}
  TicketRing(const TicketRing&) = delete;
  TicketRing& operator=(const TicketRing&) = delete;

  std::size_t slots() const { return slots_.size(); }
  std::size_t slot(Ticket t) const { return t % slots_.size(); }

  // The next ticket, once its slot is free; `on_done` retires it (else wait() does).
  Ticket claim(CompletionCallback on_done) {
    std::unique_lock lock(mu_);
    const Ticket t = next_ticket_++;
    Slot& s = slot_of(t);
    free_cv_.wait(lock, [&] { return s.state == State::kFree; });
    s.ticket = t;
    s.state = State::kClaimed;
    s.on_done = on_done;
    s.result = {};
    return t;
  }

  void publish(Ticket t) {
    {
      std::lock_guard lock(mu_);
      Slot& s = slot_of(t);
      assert(s.ticket == t && s.state == State::kClaimed);
      s.state = State::kPublished;
    }
    published_cv_.notify_all();
  }

  // True once `t` is published; false when stop() was called and it is not.
  bool wait_published(Ticket t) {
    std::unique_lock lock(mu_);
    const Slot& s = slot_of(t);
    published_cv_.wait(lock,
                       [&] { return (s.ticket == t && s.state == State::kPublished) || stop_; });
    return s.ticket == t && s.state == State::kPublished;
  }

  // Wakes wait_published(): what is published is still handed out, then it returns false.
  void stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    published_cv_.notify_all();
  }

  void complete(Ticket t, BatchResult result) {
    std::lock_guard deliver(deliver_mu_);  // one deliverer at a time: callbacks in order
    {
      std::lock_guard lock(mu_);
      Slot& s = slot_of(t);
      assert(s.ticket == t && (s.state == State::kClaimed || s.state == State::kPublished));
      s.result = std::move(result);
      s.state = State::kReady;
    }
    for (;;) {
      CompletionCallback cb;
      BatchResult r;
      Ticket next = 0;
      {
        std::lock_guard lock(mu_);
        next = completed_.load(std::memory_order_relaxed) + 1;
        Slot& head = slot_of(next);
        if (head.ticket != next || head.state != State::kReady) return;
        completed_.store(next, std::memory_order_release);
        if (head.on_done) {
          cb = head.on_done;
          r = std::move(head.result);
          head.state = State::kFree;
          free_cv_.notify_all();
        } else {
          head.state = State::kDone;
          done_cv_.notify_all();
        }
      }
      if (cb) cb.fn(cb.ctx, next, r);
    }
  }

  // Whether `t` has completed (without retiring it).
  bool poll(Ticket t) const { return t <= completed_.load(std::memory_order_acquire); }

  // Blocks until `t` completes and retires it. Throws std::logic_error for a
  // ticket that is not outstanding or has a callback.
  BatchResult wait(Ticket t) {
    std::unique_lock lock(mu_);
    Slot& s = slot_of(t);
    if (s.ticket != t || s.state == State::kFree || s.on_done) {
      throw std::logic_error(owner_ +
                             ": wait() on a ticket that is not outstanding or has a callback");
    }
    done_cv_.wait(lock, [&] { return s.state == State::kDone; });
    BatchResult r = std::move(s.result);
    s.state = State::kFree;
    lock.unlock();
    free_cv_.notify_all();
    return r;
  }

 private:
  // kClaimed → kPublished (optional) → kReady (completed, earlier tickets pending)
  // → kDone (waiting for wait()) or straight to kFree (callback).
  enum class State { kFree, kClaimed, kPublished, kReady, kDone };
  struct Slot {
    Ticket ticket = 0;
    State state = State::kFree;
    CompletionCallback on_done;
    BatchResult result;
  };

  Slot& slot_of(Ticket t) { return slots_[slot(t)]; }

  const std::string owner_;
  std::mutex mu_;
  std::mutex deliver_mu_;  // taken before mu_
  std::condition_variable free_cv_, published_cv_, done_cv_;
  std::vector<Slot> slots_;
  Ticket next_ticket_ = 1;
  std::atomic<Ticket> completed_{0};
  bool stop_ = false;
};

}  // namespace sluice::engine
