// metrics_bench: what a probe update costs on the hot path, sluice's lock-free values
// (src/metrics/metric.h) against prometheus-cpp's own Counter and Histogram, from one
// thread and from two threads sharing the series (tokenize ×N workers do); and what
// one scrape of a pass-through-sized registry costs (collect + text exposition).
//
//   update/<kind>/<impl>/threads:N   ns per update (per thread)
//   scrape/passthrough               µs per render of ~110 series (collect + serialize)
//   scrape/passthrough/collect       µs of that spent building the MetricFamily values
//
// Usage: metrics_bench [--benchmark_repetitions=5 ...]
#include <benchmark/benchmark.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include <string>
#include <vector>

#include "src/metrics/buckets.h"
#include "src/metrics/registry.h"
#include "src/metrics/stage_probe.h"

namespace {

namespace m = sluice::metrics;

m::Counter sluice_counter;
prometheus::Counter prometheus_counter;
const std::vector<double> kBuckets = m::latency_seconds_buckets();
m::Histogram sluice_histogram(kBuckets);
prometheus::Histogram prometheus_histogram(kBuckets);

void counter_sluice(benchmark::State& state) {
  for (auto _ : state) sluice_counter.inc();
}
void counter_prometheus(benchmark::State& state) {
  for (auto _ : state) prometheus_counter.Increment();
}
// A spread of latencies, so the bucket search is not always the same branch.
double latency(std::size_t i) { return 1e-4 * static_cast<double>((i * 7919) % 20000); }
void histogram_sluice(benchmark::State& state) {
  std::size_t i = 0;
  for (auto _ : state) sluice_histogram.observe(latency(i++));
}
void histogram_prometheus(benchmark::State& state) {
  std::size_t i = 0;
  for (auto _ : state) prometheus_histogram.Observe(latency(i++));
}

BENCHMARK(counter_sluice)->Name("update/counter/sluice")->Threads(1)->Threads(2);
BENCHMARK(counter_prometheus)->Name("update/counter/prometheus-cpp")->Threads(1)->Threads(2);
BENCHMARK(histogram_sluice)->Name("update/histogram/sluice")->Threads(1)->Threads(2);
BENCHMARK(histogram_prometheus)->Name("update/histogram/prometheus-cpp")->Threads(1)->Threads(2);

// The series `sluice run pipelines/passthrough.yaml` registers over 16 partitions
// (process metrics left out: they read /proc).
struct PassthroughSeries {
  m::Registry r;
  std::vector<m::StageProbe> probes;

  PassthroughSeries() {
    r.gauge("sluice_build_info", "Build.", {{"version", "0.1.0"}, {"cuda", "cuda: not built"}})
        .set(1);
    for (int p = 0; p < 16; ++p) {
      const m::Labels l{
          {"pipeline", "passthrough"}, {"topic", "in"}, {"partition", std::to_string(p)}};
      r.counter("sluice_records_consumed_total", "Consumed.", l).inc(123456 + p);
      r.gauge("sluice_consumer_lag_records", "Lag.", l).set(42);
      r.gauge("sluice_committed_offset", "Committed.", l).set(99999);
    }
    r.counter("sluice_records_produced_total", "Produced.",
              {{"pipeline", "passthrough"}, {"topic", "out"}})
        .inc(1975000);
    m::Histogram& h = r.histogram("sluice_end_to_end_latency_seconds", "Latency.", kBuckets,
                                  {{"pipeline", "passthrough"}});
    for (std::size_t i = 0; i < 1000; ++i) h.observe(latency(i));
    for (const char* stage : {"source", "identity", "sink"}) {
      probes.emplace_back(
          r, "passthrough", stage,
          m::StageReaders{[] { return 1e6; }, [] { return 1e6; }, [] { return 0.0; },
                          [] { return 0.0; }, [] { return 12.5; }, [] { return 3.0; },
                          [] { return 1024.0; }});
    }
  }
};

void scrape_passthrough(benchmark::State& state) {
  PassthroughSeries s;
  std::size_t bytes = 0;
  for (auto _ : state) {
    const std::string body = s.r.render();
    bytes = body.size();
    benchmark::DoNotOptimize(body.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(scrape_passthrough)->Name("scrape/passthrough")->Unit(benchmark::kMicrosecond);

// The part of a scrape that builds prometheus-cpp's MetricFamily values.
void collect_passthrough(benchmark::State& state) {
  PassthroughSeries s;
  for (auto _ : state) benchmark::DoNotOptimize(s.r.Collect());
}
BENCHMARK(collect_passthrough)->Name("scrape/passthrough/collect")->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
