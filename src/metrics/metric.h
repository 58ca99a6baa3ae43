// The three value types behind sluice's metrics: Counter, Gauge, Histogram.
//
// These are what pipeline threads touch on every record, so every update is a
// relaxed atomic operation: lock-free, no allocation, no system call. Objects are
// normally created by a Registry (src/metrics/registry.h), which owns them and
// exposes them through prometheus-cpp; they are neither copyable nor movable so
// that references handed out stay valid. Each object is cache-line aligned so that
// two counters updated by different stage threads never share a line.
#pragma once
#include <algorithm>
#include <atomic>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace sluice::metrics {

// Monotonically increasing value (records consumed, errors, busy seconds).
// Thread-safe: any number of threads may inc() concurrently; sums are exact for
// integral increments up to 2^53.
class alignas(64) Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // v must be >= 0 (a counter never goes down; asserted, also in release builds).
  // Whole increments (one record, a batch of n) take a single integer fetch_add; only
  // fractional ones (seconds) pay for the floating-point compare-exchange loop, which
  // measured twice as slow (the same split as Prometheus' Go client).
  void inc(double v = 1.0) noexcept {
    assert(v >= 0 && "Counter::inc: counters only go up");
    if (v < 0x1p53 && v == static_cast<double>(static_cast<std::uint64_t>(v))) {
      whole_.fetch_add(static_cast<std::uint64_t>(v), std::memory_order_relaxed);
    } else {
      fraction_.fetch_add(v, std::memory_order_relaxed);
    }
  }
  double value() const noexcept {
    return static_cast<double>(whole_.load(std::memory_order_relaxed)) +
           fraction_.load(std::memory_order_relaxed);
  }

 private:
  std::atomic<std::uint64_t> whole_{0};
  std::atomic<double> fraction_{0.0};
};

// Value that goes up and down (queue depth, token budget, bytes in use).
// Thread-safe; set() and add() from different threads interleave atomically.
class alignas(64) Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double v) noexcept { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Distribution over fixed buckets (batch sizes, latencies in seconds).
//
// Bucket upper bounds are fixed at construction: finite, strictly ascending,
// at least one; a trailing +Inf is accepted and dropped because the +Inf bucket
// is always implicit. observe() is lock-free: it finds the bucket by binary search
// and does two relaxed atomic adds. A NaN observation lands in the +Inf bucket and
// makes the sum NaN (the behaviour of Prometheus' own client libraries).
class alignas(64) Histogram {
 public:
  // Throws std::invalid_argument when the bounds break the rules above.
  explicit Histogram(std::span<const double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void observe(double v) noexcept {
    std::size_t i = bounds_.size();  // +Inf bucket, also for NaN
    if (!std::isnan(v)) i = bucket_index(v);
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(v, std::memory_order_relaxed);
  }

  // Consistent enough for rendering: each bucket is read atomically, but an
  // observe() running concurrently may be reflected in the counts and not yet in
  // the sum. `count` is always the sum of the buckets, so _count equals the +Inf bucket.
  struct Snapshot {
    std::vector<double> upper_bounds;       // finite bounds; +Inf implicit
    std::vector<std::uint64_t> cumulative;  // upper_bounds.size() + 1 entries, last = count
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;

  std::span<const double> upper_bounds() const noexcept { return bounds_; }

 private:
  // First bucket whose upper bound is >= v (Prometheus buckets are "less or equal").
  std::size_t bucket_index(double v) const noexcept {
    return static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                    bounds_.begin());
  }

  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0.0};
};

// Validates bucket bounds as Histogram's constructor does and returns them with any
// trailing +Inf removed. `what` names the metric in the error message.
std::vector<double> checked_bucket_bounds(std::span<const double> upper_bounds,
                                          std::string_view what);

}  // namespace sluice::metrics
