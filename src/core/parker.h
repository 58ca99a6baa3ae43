// Parker: lets one thread sleep until another has work for it, with no lock
// and no syscall on the fast path (an eventcount over a Linux futex).
//
// Protocol for the sleeping side (one thread owns the parker):
//   auto ticket = parker.prepare();      // announce intent to sleep
//   if (work_available()) { parker.cancel(); ... }   // re-check after announcing
//   else parker.park(ticket, deadline);   // sleeps unless unpark() came since prepare()
// Waking side (any thread, any number): make work visible, then unpark().
// unpark() costs one fence and one load when nobody sleeps.
#pragma once
#include <atomic>
#include <cstdint>

#include "src/core/clock.h"

namespace sluice::core {

class Parker {
 public:
  uint32_t prepare() {
    waiting_.store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return epoch_.load(std::memory_order_acquire);
  }
  void cancel() { waiting_.store(0, std::memory_order_relaxed); }
  // Sleeps until unpark() or the deadline (TimePoint::max() = no deadline).
  // Spurious wake-ups are possible: callers loop.
  void park(uint32_t ticket, TimePoint deadline = TimePoint::max());

  void unpark() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (waiting_.load(std::memory_order_relaxed)) wake();
  }
  bool sleeping() const { return waiting_.load(std::memory_order_relaxed) != 0; }

 private:
  void wake();

  std::atomic<uint32_t> epoch_{0};
  std::atomic<uint32_t> waiting_{0};
};

// Short busy-wait hint for spin loops.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace sluice::core
