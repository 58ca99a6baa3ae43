// state_restore_bench: what keyed state costs — changelog bytes per key, the
// worker's memory per key, and restore time per GB of changelog — for
// window_aggregate's state (one open window, two labels per key).
//
//   build/dev/bench/state_restore_bench [keys_per_partition] [partitions]
//
// Runs on an in-process embedded broker (librdkafka 2.0.2's mock cluster, on
// loopback): the restore figure is the client's side (fetch, decode, fold)
// with a broker that answers from memory; a real broker reading from disk or
// over a network is slower. The mock keeps ~5 MiB per partition, so the
// changelog is spread over enough partitions to stay under that. Prints
// numbers; asserts nothing.
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "operators/window_aggregate_codec.h"
#include "operators/window_aggregate_state.h"
#include "src/kafka/mock_cluster.h"
#include "src/kafka/output.h"
#include "src/state/changelog.h"
#include "src/state/keyed_store.h"

using namespace sluice;

namespace {

long rss_kb() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * 4;
}

}  // namespace

int main(int argc, char** argv) {
  const int keys = argc > 1 ? std::atoi(argv[1]) : 40'000;
  const int partitions = argc > 2 ? std::atoi(argv[2]) : 8;
  kafka::MockCluster cluster(1);
  const std::string topic = "bench-windows-changelog";
  cluster.create_topic(topic, partitions);

  kafka::ProducerConfig pc;
  pc.bootstrap_servers = cluster.bootstrap_servers();
  pc.properties["linger.ms"] = "5";
  kafka::Output output(pc, nullptr, "bench");
  kafka::Properties consumer{{"fetch.wait.max.ms", "10"}};
  state::KafkaChangelog changelog(topic, cluster.bootstrap_servers(), consumer, output);
  state::KeyedStore store("windows", nullptr, "bench");
  store.bind(&changelog);

  // One window per key: 1 s tumbling, two labels, as the sentiment pipeline's.
  std::string payload;
  uint64_t written_bytes = 0;
  const auto w0 = std::chrono::steady_clock::now();
  for (int p = 0; p < partitions; ++p) {
    store.post_restored(p, state::PartitionSnapshot{});
    store.sync([](int32_t, const state::PartitionSnapshot&) {}, [](int32_t) {});
    for (int k = 0; k < keys; ++k) {
      operators::ClosedWindow w;
      w.key = "brand-" + std::to_string(k);
      w.start_ms = 1'700'000'000'000;
      w.count = 40;
      w.score_sum = 31.5;
      w.labels = {{"negative", 12}, {"positive", 28}};
      payload.clear();
      operators::encode_windows(payload, w.start_ms + 400, {&w, 1});
      store.put(p, w.key, payload, k, {});
      written_bytes += 1 + w.key.size() + 10 + payload.size();  // key prefix, entry header
    }
  }
  if (!output.flush(std::chrono::seconds(120))) {
    std::fprintf(stderr, "flush timed out\n");
    return 1;
  }
  const double write_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();

  // Restore every partition, as an assignment does, and rebuild the windows
  // (what the worker holds), measuring the resident memory they take.
  malloc_trim(0);
  const long rss0 = rss_kb();
  double restore_s = 0;
  uint64_t bytes = 0, records = 0;
  std::vector<std::unique_ptr<operators::WindowAggregator>> aggs;
  for (int p = 0; p < partitions; ++p) {
    state::PartitionSnapshot snap = changelog.restore(p, std::chrono::seconds(300));
    restore_s += snap.seconds;
    bytes += snap.bytes;
    records += snap.records;
    operators::WindowConfig c;
    c.size_ms = c.advance_ms = 1000;
    c.max_keys = static_cast<size_t>(keys) + 1;
    auto agg = std::make_unique<operators::WindowAggregator>(c);
    std::vector<operators::ClosedWindow> ws;
    for (const auto& [key, value] : snap.keys) {
      ws.clear();
      int64_t t = 0;
      std::string why;
      operators::decode_windows(value, key, c.size_ms, &t, ws, &why);
      for (const auto& w : ws) agg->restore_window(w);
    }
    store.post_restored(p, std::move(snap));
    aggs.push_back(std::move(agg));
  }
  store.sync([](int32_t, const state::PartitionSnapshot&) {}, [](int32_t) {});
  malloc_trim(0);  // the snapshots are gone: count what stays held
  const long rss1 = rss_kb();
  const double total_keys = static_cast<double>(keys) * partitions;
  std::printf("state_restore_bench: %d partitions x %d keys = %.0f keys (embedded broker)\n",
              partitions, keys, total_keys);
  std::printf("  changelog bytes per key: %.1f (key + value; %.0f MB written in %.2f s)\n",
              static_cast<double>(written_bytes) / total_keys, written_bytes / 1e6, write_s);
  std::printf("  restore: %llu records, %.1f MB in %.2f s = %.1f MB/s = %.1f s per GB\n",
              static_cast<unsigned long long>(records), bytes / 1e6, restore_s,
              bytes / 1e6 / restore_s, restore_s / (bytes / 1e9));
  std::printf("  worker memory per key held (windows + store offsets), RSS: %.0f bytes\n",
              (rss1 - rss0) * 1024.0 / total_keys);
  output.close();
  return 0;
}
