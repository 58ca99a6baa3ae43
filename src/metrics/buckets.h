// Standard histogram bucket layouts, so that every component measuring the same
// kind of quantity (latency, batch size) uses the same buckets and dashboards can
// aggregate across stages. All throw std::invalid_argument on nonsensical input.
#pragma once
#include <vector>

namespace sluice::metrics {

// start, start*factor, start*factor^2, ... (count bounds). start > 0, factor > 1, count >= 1.
std::vector<double> exponential_buckets(double start, double factor, int count);
// start, start+width, ... (count bounds). width > 0, count >= 1.
std::vector<double> linear_buckets(double start, double width, int count);
// Latencies in seconds, 100 µs … 30 s in 1-2.5-5 steps:
// 0.0001 0.00025 0.0005 0.001 … 1 2.5 5 10 30 (17 bounds).
std::vector<double> latency_seconds_buckets();

}  // namespace sluice::metrics
