#include "src/metrics/metric.h"

#include <stdexcept>
#include <string>

namespace sluice::metrics {

std::vector<double> checked_bucket_bounds(std::span<const double> upper_bounds,
                                          std::string_view what) {
  std::vector<double> bounds(upper_bounds.begin(), upper_bounds.end());
  if (!bounds.empty() && std::isinf(bounds.back()) && bounds.back() > 0) bounds.pop_back();
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument("metric '" + std::string(what) + "': histogram buckets " + why);
  };
  if (bounds.empty()) fail("must have at least one finite upper bound");
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) {
      const char* v = std::isnan(bounds[i]) ? "NaN" : bounds[i] > 0 ? "+Inf" : "-Inf";
      fail("must be finite (bucket " + std::to_string(i) + " is " + v + ")");
    }
    if (i > 0 && !(bounds[i - 1] < bounds[i])) {
      fail("must be strictly ascending (bucket " + std::to_string(i) + " is not above bucket " +
           std::to_string(i - 1) + ")");
    }
  }
  return bounds;
}

Histogram::Histogram(std::span<const double> upper_bounds)
    : bounds_(checked_bucket_bounds(upper_bounds, "<histogram>")),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace sluice::metrics
