// queue_bench: our SPSC ring against boost::lockfree::spsc_queue and moodycamel
// ReaderWriterQueue, producer and consumer on two threads (pinned to two cores
// when the machine has them). Items of 8 and 64 bytes; all queues hold 1024.
//
//   throughput/<size>/<queue>  items moved per second (items_per_second)
//   roundtrip/<size>/<queue>   ping-pong over two queues; ns per round trip
//
// After the runs it prints, per benchmark, our rate over each peer's.
// Usage: queue_bench [--benchmark_format=json] [--benchmark_repetitions=5 ...]
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <readerwriterqueue/readerwriterqueue.h>
#include <sched.h>

#include <boost/lockfree/spsc_queue.hpp>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "src/core/spsc_ring.h"

namespace {

constexpr size_t kCapacity = 1024;

template <size_t N>
struct Item {
  uint64_t v[N / 8];
  Item() = default;
  explicit Item(uint64_t x) { v[0] = x; }
};

// Uniform adapters: try_push / try_pop.
template <typename T>
struct Sluice {
  static constexpr const char* kName = "sluice";
  sluice::core::SpscRing<T> q{kCapacity};
  bool push(const T& v) { return q.try_push(v); }
  bool pop(T& v) { return q.try_pop(v); }
};
template <typename T>
struct Boost {
  static constexpr const char* kName = "boost";
  boost::lockfree::spsc_queue<T, boost::lockfree::capacity<kCapacity>> q;
  bool push(const T& v) { return q.push(v); }
  bool pop(T& v) { return q.pop(v); }
};
template <typename T>
struct Moody {
  static constexpr const char* kName = "moodycamel";
  moodycamel::ReaderWriterQueue<T> q{kCapacity};
  bool push(const T& v) { return q.try_enqueue(v); }
  bool pop(T& v) { return q.try_dequeue(v); }
};

void pin_to_cpu(int cpu) {
  if (std::thread::hardware_concurrency() < 2) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % std::thread::hardware_concurrency(), &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

template <typename Q, size_t N>
void BM_Throughput(benchmark::State& state) {
  using T = Item<N>;
  auto q = std::make_unique<Q>();
  const int64_t n = state.max_iterations;
  pin_to_cpu(0);
  std::thread producer([&] {
    pin_to_cpu(1);
    for (int64_t i = 0; i < n; ++i) {
      T item(static_cast<uint64_t>(i));
      while (!q->push(item)) sluice::core::cpu_relax();
    }
  });
  T out;
  uint64_t expect = 0;
  bool ordered = true;
  for (auto _ : state) {
    while (!q->pop(out)) sluice::core::cpu_relax();
    ordered &= out.v[0] == expect++;
  }
  producer.join();
  if (!ordered) state.SkipWithError("items arrived out of order");
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(N));
}

template <typename Q, size_t N>
void BM_RoundTrip(benchmark::State& state) {
  using T = Item<N>;
  auto ping = std::make_unique<Q>();
  auto pong = std::make_unique<Q>();
  const int64_t n = state.max_iterations;
  pin_to_cpu(0);
  std::thread echo([&] {
    pin_to_cpu(1);
    T v;
    for (int64_t i = 0; i < n; ++i) {
      while (!ping->pop(v)) sluice::core::cpu_relax();
      while (!pong->push(v)) sluice::core::cpu_relax();
    }
  });
  T v(1);
  for (auto _ : state) {
    while (!ping->push(v)) sluice::core::cpu_relax();
    while (!pong->pop(v)) sluice::core::cpu_relax();
  }
  echo.join();
  state.SetItemsProcessed(state.iterations());
  state.counters["ns_per_roundtrip"] = benchmark::Counter(
      static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert, benchmark::Counter::kIs1000);
}

#define SLUICE_QUEUE_BENCH(kind, fn, size)                                                         \
  BENCHMARK_TEMPLATE(fn, Sluice<Item<size>>, size)                                                 \
      ->Name(#kind "/" #size "B/sluice")                                                           \
      ->UseRealTime();                                                                             \
  BENCHMARK_TEMPLATE(fn, Boost<Item<size>>, size)->Name(#kind "/" #size "B/boost")->UseRealTime(); \
  BENCHMARK_TEMPLATE(fn, Moody<Item<size>>, size)                                                  \
      ->Name(#kind "/" #size "B/moodycamel")                                                       \
      ->UseRealTime();

SLUICE_QUEUE_BENCH(throughput, BM_Throughput, 8)
SLUICE_QUEUE_BENCH(throughput, BM_Throughput, 64)
SLUICE_QUEUE_BENCH(roundtrip, BM_RoundTrip, 8)
SLUICE_QUEUE_BENCH(roundtrip, BM_RoundTrip, 64)

// Forwards to the normal reporter and remembers items_per_second per
// benchmark (the median when repetitions are asked for).
class RatioReporter : public benchmark::BenchmarkReporter {
 public:
  explicit RatioReporter(benchmark::BenchmarkReporter* inner) : inner_(inner) {}
  bool ReportContext(const Context& c) override { return inner_->ReportContext(c); }
  void ReportRuns(const std::vector<Run>& runs) override {
    inner_->ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      std::string name = r.run_name.function_name;  // e.g. throughput/8B/sluice
      bool aggregate = r.run_type == Run::RT_Aggregate;
      if (aggregate && r.aggregate_name != "median") continue;
      auto it = r.counters.find("items_per_second");
      if (it == r.counters.end()) continue;
      if (aggregate || !rates_.count(name) || !has_median_.count(name))
        rates_[name] = it->second.value;
      if (aggregate) has_median_[name] = true;
    }
  }
  void Finalize() override {
    inner_->Finalize();
    std::fprintf(stderr, "\n%-22s %14s %14s %14s %9s %9s\n", "benchmark", "sluice/s", "boost/s",
                 "moodycamel/s", "vs boost", "vs moody");
    for (const char* kind : {"throughput/8B", "throughput/64B", "roundtrip/8B", "roundtrip/64B"}) {
      std::string k = kind;
      double ours = rates_[k + "/sluice"], boost = rates_[k + "/boost"],
             moody = rates_[k + "/moodycamel"];
      if (ours <= 0) continue;
      std::fprintf(stderr, "%-22s %14.0f %14.0f %14.0f %8.2fx %8.2fx\n", kind, ours, boost, moody,
                   boost > 0 ? ours / boost : 0.0, moody > 0 ? ours / moody : 0.0);
    }
  }

 private:
  benchmark::BenchmarkReporter* inner_;
  std::map<std::string, double> rates_;
  std::map<std::string, bool> has_median_;
};

}  // namespace

int main(int argc, char** argv) {
  bool json = false;
  for (int i = 1; i < argc; ++i) json |= std::string(argv[i]) == "--benchmark_format=json";
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::unique_ptr<benchmark::BenchmarkReporter> inner;
  if (json) {
    inner = std::make_unique<benchmark::JSONReporter>();
  } else {
    inner = std::make_unique<benchmark::ConsoleReporter>();
  }
  RatioReporter reporter(inner.get());
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
