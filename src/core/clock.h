// Clocks used across the pipeline. Monotonic nanoseconds for latency and
// deadlines; wall-clock milliseconds for comparisons with Kafka timestamps.
#pragma once
#include <chrono>
#include <cstdint>

namespace sluice::core {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;

// Monotonic time in nanoseconds (steady_clock). Not comparable across processes.
inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch())
      .count();
}

// Wall-clock time in milliseconds since the Unix epoch (as Kafka timestamps).
inline int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace sluice::core
