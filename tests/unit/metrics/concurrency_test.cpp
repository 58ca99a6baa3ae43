// Updates from several threads at once must lose nothing: these sums are exact.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "src/metrics/registry.h"

namespace sluice::metrics {
namespace {

constexpr int kThreads = 4;
constexpr std::uint64_t kPerThread = 200'000;

template <class Fn>
void run_threads(Fn fn) {
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(fn, t);
  for (auto& t : threads) t.join();
}

TEST(MetricsConcurrency, CounterIncrementsFromManyThreadsSumExactly) {
  Registry r;
  Counter& c = r.counter("x_total", "X.");
  Counter& halves = r.counter("y_total", "Y.");
  run_threads([&](int) {
    for (std::uint64_t i = 0; i < kPerThread; ++i) {
      c.inc();
      halves.inc(0.5);
    }
  });
  EXPECT_EQ(c.value(), double(kThreads) * kPerThread);
  EXPECT_EQ(halves.value(), double(kThreads) * kPerThread / 2);
}

TEST(MetricsCounter, AddsWholeAndFractionalIncrements) {
  Counter c;
  c.inc();
  c.inc(3);
  c.inc(0.25);
  c.inc(0);
  EXPECT_EQ(c.value(), 4.25);
  Counter big;
  big.inc(0x1p60);  // beyond 2^53: takes the floating-point path
  big.inc(1);
  EXPECT_EQ(big.value(), 0x1p60);
}

TEST(MetricsConcurrency, GaugeAddsFromManyThreadsSumExactly) {
  Gauge g;
  run_threads([&](int t) {
    for (std::uint64_t i = 0; i < kPerThread; ++i) g.add(t % 2 == 0 ? 3 : -1);
  });
  EXPECT_EQ(g.value(), double(kPerThread) * (3 + 3 - 1 - 1));
}

TEST(MetricsConcurrency, HistogramObservationsFromManyThreadsCountExactly) {
  const double bounds[] = {1, 2, 3};
  Histogram h(bounds);
  run_threads([&](int t) {
    for (std::uint64_t i = 0; i < kPerThread; ++i) h.observe(t + 0.5);  // thread t → bucket t
  });
  const auto s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{kPerThread, 2 * kPerThread, 3 * kPerThread,
                                                      4 * kPerThread}));
  EXPECT_EQ(s.count, std::uint64_t(kThreads) * kPerThread);
  EXPECT_EQ(s.sum, double(kPerThread) * (0.5 + 1.5 + 2.5 + 3.5));
}

TEST(MetricsConcurrency, RegistrationAndRenderRaceWithUpdates) {
  Registry r;
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done.load()) {
      const std::string body = r.render();
      ASSERT_EQ(body.find("Nan"), std::string::npos);  // prometheus-cpp's spelling of NaN
    }
  });
  run_threads([&](int t) {
    // Every thread looks up the shared series and one of its own, as components do at start-up.
    Counter& shared = r.counter("shared_total", "S.");
    Counter& own = r.counter("own_total", "O.", {{"thread", std::to_string(t)}});
    Histogram& h = r.histogram("lat_seconds", "L.", latency_seconds_buckets());
    for (std::uint64_t i = 0; i < kPerThread / 4; ++i) {
      shared.inc();
      own.inc();
      h.observe(0.001);
    }
  });
  done = true;
  scraper.join();
  EXPECT_EQ(r.counter("shared_total", "S.").value(), double(kThreads) * kPerThread / 4);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(r.counter("own_total", "O.", {{"thread", std::to_string(t)}}).value(),
              double(kPerThread) / 4);
  }
  const std::string body = r.render();
  EXPECT_NE(body.find("lat_seconds_count " + std::to_string(kThreads * kPerThread / 4) + "\n"),
            std::string::npos);
}

}  // namespace
}  // namespace sluice::metrics
