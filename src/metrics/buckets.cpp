#include "src/metrics/buckets.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace sluice::metrics {

std::vector<double> exponential_buckets(double start, double factor, int count) {
  if (!(start > 0) || !std::isfinite(start)) {
    throw std::invalid_argument("exponential_buckets: start must be a finite number > 0, got " +
                                std::to_string(start));
  }
  if (!(factor > 1) || !std::isfinite(factor)) {
    throw std::invalid_argument("exponential_buckets: factor must be a finite number > 1, got " +
                                std::to_string(factor));
  }
  if (count < 1) {
    throw std::invalid_argument("exponential_buckets: count must be >= 1, got " +
                                std::to_string(count));
  }
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(count));
  double v = start;
  for (int i = 0; i < count; ++i, v *= factor) out.push_back(v);
  return out;
}

std::vector<double> linear_buckets(double start, double width, int count) {
  if (!std::isfinite(start)) throw std::invalid_argument("linear_buckets: start must be finite");
  if (!(width > 0) || !std::isfinite(width)) {
    throw std::invalid_argument("linear_buckets: width must be a finite number > 0, got " +
                                std::to_string(width));
  }
  if (count < 1) {
    throw std::invalid_argument("linear_buckets: count must be >= 1, got " + std::to_string(count));
  }
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) out.push_back(start + width * i);
  return out;
}

std::vector<double> latency_seconds_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
}

}  // namespace sluice::metrics
