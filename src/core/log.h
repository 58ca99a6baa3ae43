// Minimal thread-safe logging to stderr: one line per call, with a UTC
// timestamp and level. Never used per record on the hot path (rate-limit
// per-record warnings with LogLimiter).
#pragma once
#include <atomic>
#include <cstdint>
#include <sstream>
#include <string_view>

namespace sluice::core {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
// Parses "debug", "info", "warn", "error"; false if unknown.
bool parse_log_level(std::string_view name, LogLevel* out);
void log_line(LogLevel level, std::string_view message);

template <typename... Args>
void log(LogLevel level, const Args&... args) {
  if (level < log_level()) return;
  std::ostringstream os;
  (os << ... << args);
  log_line(level, os.str());
}
template <typename... Args>
void log_debug(const Args&... a) {
  log(LogLevel::kDebug, a...);
}
template <typename... Args>
void log_info(const Args&... a) {
  log(LogLevel::kInfo, a...);
}
template <typename... Args>
void log_warn(const Args&... a) {
  log(LogLevel::kWarn, a...);
}
template <typename... Args>
void log_error(const Args&... a) {
  log(LogLevel::kError, a...);
}

// Allows at most one message per interval (e.g. per-record warnings); counts
// what it suppressed so the next message can say so. Thread-safe.
class LogLimiter {
 public:
  explicit LogLimiter(int64_t interval_ms = 5000) : interval_ns_(interval_ms * 1'000'000) {}
  // True if the caller may log now; *suppressed receives how many were dropped since.
  bool allow(uint64_t* suppressed);

 private:
  int64_t interval_ns_;
  std::atomic<int64_t> next_ns_{0};
  std::atomic<uint64_t> suppressed_{0};
};

}  // namespace sluice::core
