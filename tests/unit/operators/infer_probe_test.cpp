// InferProbe's result-cache series under concurrent workers. Label tsan: the
// thread-sanitizer build proves the probe has no data race when every infer
// worker reports at once (on_cache used to register its series lazily from
// whichever worker came first).
#include "operators/infer_probe.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace sluice::operators {
namespace {

double value(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) {
    ADD_FAILURE() << series << " not in\n" << text;
    return -1.0;
  }
  return std::stod(text.substr(at + series.size() + 2));
}

TEST(InferProbe, WorkersReportTheCacheConcurrentlyAndTheEntriesGaugeIsTheirSum) {
  metrics::Registry reg;
  InferProbe probe(reg, "p", "infer");
  probe.enable_cache();  // the stage's constructor, before any worker runs
  constexpr int kWorkers = 4, kBatches = 2000;
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&probe, w] {
      int64_t reported = 0;
      for (int b = 1; b <= kBatches; ++b) {
        // Worker w's cache grows to w + 10 entries, then stays there.
        const int64_t size = std::min<int64_t>(b, w + 10);
        probe.on_cache(3, 1, size - reported);
        reported = size;
      }
    });
  }
  for (auto& t : workers) t.join();
  const std::string text = reg.render();
  const std::string c = "sluice_result_cache_lookups_total{pipeline=\"p\",result=";
  EXPECT_EQ(value(text, c + "\"hit\",stage=\"infer\"}"), 3.0 * kWorkers * kBatches);
  EXPECT_EQ(value(text, c + "\"miss\",stage=\"infer\"}"), 1.0 * kWorkers * kBatches);
  // Each worker holds its own cache: 10 + 11 + 12 + 13 entries in all (the
  // gauge used to show whichever worker reported last).
  EXPECT_EQ(value(text, "sluice_result_cache_entries{pipeline=\"p\",stage=\"infer\"}"), 46.0);
}

TEST(InferProbe, WithoutTheCacheNoCacheSeriesAppear) {
  metrics::Registry reg;
  InferProbe probe(reg, "p", "infer");
  probe.on_cache(1, 1, 1);  // ignored: the cache is off
  EXPECT_EQ(reg.render().find("sluice_result_cache"), std::string::npos);
}

}  // namespace
}  // namespace sluice::operators
