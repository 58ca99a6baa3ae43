#include "src/config/options.h"

#include <charconv>

namespace sluice::config {

std::string render_duration(std::chrono::nanoseconds d) {
  const int64_t ns = d.count();
  if (ns == 0) return "0s";
  // The largest unit that states the value exactly.
  static constexpr std::pair<int64_t, const char*> kUnits[] = {
      {3'600'000'000'000, "h"}, {60'000'000'000, "m"}, {1'000'000'000, "s"},
      {1'000'000, "ms"},        {1'000, "us"},         {1, "ns"},
  };
  for (const auto& [size, unit] : kUnits)
    if (ns % size == 0) return std::to_string(ns / size) + unit;
  return std::to_string(ns) + "ns";
}

std::string render_bytes(uint64_t bytes) {
  if (bytes == 0) return "0";
  static constexpr std::pair<uint64_t, const char*> kUnits[] = {
      {uint64_t{1} << 30, "GiB"}, {uint64_t{1} << 20, "MiB"}, {uint64_t{1} << 10, "KiB"}};
  for (const auto& [size, unit] : kUnits)
    if (bytes % size == 0) return std::to_string(bytes / size) + unit;
  return std::to_string(bytes);
}

std::string render_real(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest that reads back
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

}  // namespace sluice::config
