#include "src/metrics/buckets.h"

#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <vector>

#include "src/metrics/metric.h"

namespace sluice::metrics {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(MetricsBuckets, ExponentialMultipliesByFactor) {
  EXPECT_EQ(exponential_buckets(1, 2, 5), (std::vector<double>{1, 2, 4, 8, 16}));
  EXPECT_EQ(exponential_buckets(0.5, 4, 3), (std::vector<double>{0.5, 2, 8}));
}

TEST(MetricsBuckets, LinearAddsWidth) {
  EXPECT_EQ(linear_buckets(0.5, 0.5, 4), (std::vector<double>{0.5, 1, 1.5, 2}));
  EXPECT_EQ(linear_buckets(-1, 1, 3), (std::vector<double>{-1, 0, 1}));
}

TEST(MetricsBuckets, LatencyBucketsSpan100MicrosecondsTo30Seconds) {
  EXPECT_EQ(latency_seconds_buckets(),
            (std::vector<double>{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}));
  EXPECT_NO_THROW(Histogram h(latency_seconds_buckets()));
}

TEST(MetricsBuckets, RejectsNonsensicalLayouts) {
  EXPECT_THROW(exponential_buckets(0, 2, 3), std::invalid_argument);
  EXPECT_THROW(exponential_buckets(1, 1, 3), std::invalid_argument);
  EXPECT_THROW(exponential_buckets(1, 2, 0), std::invalid_argument);
  EXPECT_THROW(exponential_buckets(kNaN, 2, 3), std::invalid_argument);
  EXPECT_THROW(linear_buckets(0, 0, 3), std::invalid_argument);
  EXPECT_THROW(linear_buckets(kInf, 1, 3), std::invalid_argument);
  EXPECT_THROW(linear_buckets(0, 1, -1), std::invalid_argument);
}

TEST(MetricsHistogram, ValueOnABoundCountsInThatBucket) {
  const double bounds[] = {0.25, 0.5, 1};
  Histogram h(bounds);
  for (double v : {0.125, 0.25, 0.5, 0.75, 1.0, 3.0}) h.observe(v);
  const auto s = h.snapshot();
  EXPECT_EQ(s.upper_bounds, (std::vector<double>{0.25, 0.5, 1}));
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{2, 3, 5, 6}));
  EXPECT_EQ(s.count, 6u);
  EXPECT_EQ(s.sum, 5.625);
}

TEST(MetricsHistogram, NaNAndInfinityLandInTheInfBucket) {
  const double bounds[] = {1};
  Histogram h(bounds);
  h.observe(kInf);
  h.observe(-kInf);
  auto s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{1, 2}));
  EXPECT_TRUE(std::isnan(s.sum));  // +Inf + -Inf
  Histogram n(bounds);
  n.observe(kNaN);
  s = n.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{0, 1}));
  EXPECT_TRUE(std::isnan(s.sum));
}

TEST(MetricsHistogram, AcceptsTrailingInfAndRejectsBadBounds) {
  const double with_inf[] = {1, 2, kInf};
  EXPECT_EQ(Histogram(with_inf).snapshot().upper_bounds, (std::vector<double>{1, 2}));
  const double descending[] = {2, 1};
  const double repeated[] = {1, 1};
  const double nan[] = {1, kNaN};
  const double minus_inf[] = {-kInf, 1};
  const double only_inf[] = {kInf};
  for (auto bad : {std::span<const double>(descending), std::span<const double>(repeated),
                   std::span<const double>(nan), std::span<const double>(minus_inf),
                   std::span<const double>(only_inf), std::span<const double>()}) {
    EXPECT_THROW(Histogram h(bad), std::invalid_argument);
  }
  try {
    checked_bucket_bounds(descending, "sluice_x_seconds");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "metric 'sluice_x_seconds': histogram buckets must be strictly ascending "
                 "(bucket 1 is not above bucket 0)");
  }
}

}  // namespace
}  // namespace sluice::metrics
