#include "src/core/parker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace sluice::core {
namespace {

using namespace std::chrono_literals;

TEST(Parker, ParkReturnsAtDeadline) {
  Parker p;
  auto t0 = SteadyClock::now();
  uint32_t t = p.prepare();
  p.park(t, t0 + 30ms);
  EXPECT_GE(SteadyClock::now() - t0, 25ms);
  EXPECT_FALSE(p.sleeping());
}

TEST(Parker, UnparkBeforeParkIsNotLost) {
  Parker p;
  uint32_t t = p.prepare();
  p.unpark();  // arrives between prepare() and park()
  auto t0 = SteadyClock::now();
  p.park(t, t0 + 5s);
  EXPECT_LT(SteadyClock::now() - t0, 1s);
}

TEST(Parker, UnparkWakesSleeper) {
  Parker p;
  std::atomic<bool> flag{false};
  std::thread sleeper([&] {
    while (!flag.load()) {
      uint32_t t = p.prepare();
      if (flag.load()) {
        p.cancel();
        break;
      }
      p.park(t);
    }
  });
  std::this_thread::sleep_for(20ms);
  flag = true;
  p.unpark();
  sleeper.join();
  SUCCEED();
}

}  // namespace
}  // namespace sluice::core
