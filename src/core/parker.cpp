#include "src/core/parker.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace sluice::core {
namespace {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

long futex(std::atomic<uint32_t>* addr, int op, uint32_t val, const timespec* timeout) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), op, val, timeout, nullptr, 0);
}

}  // namespace

void Parker::park(uint32_t ticket, TimePoint deadline) {
  if (deadline == TimePoint::max()) {
    futex(&epoch_, FUTEX_WAIT_PRIVATE, ticket, nullptr);
  } else {
    auto left = deadline - SteadyClock::now();
    if (left.count() > 0) {
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
      futex(&epoch_, FUTEX_WAIT_PRIVATE, ticket, &ts);
    }
  }
  waiting_.store(0, std::memory_order_relaxed);
}

void Parker::wake() {
  epoch_.fetch_add(1, std::memory_order_release);
  futex(&epoch_, FUTEX_WAKE_PRIVATE, 1, nullptr);
}

}  // namespace sluice::core
