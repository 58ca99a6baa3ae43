// Backpressure: a stage that stops taking records while a million wait in
// Kafka. The source must stop reading at the high watermark and pause its
// partitions once that lasts (so memory stays bounded by configuration), keep
// its group membership, and resume and deliver everything once the stage
// moves again. And the overload policies: pause waits, shed dead-letters what
// is already too old.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "src/core/log.h"
#include "src/kafka/mock_cluster.h"
#include "tests/integration/kafka/kafka_test_util.h"

namespace sluice::kafka::testing {
namespace {

using namespace std::chrono_literals;

TEST(KafkaBackpressure, PausesAtTheHighWatermarkWithBoundedMemoryAndRecovers) {
  const int kRecords = std::getenv("SLUICE_TEST_BP_RECORDS")
                           ? std::atoi(std::getenv("SLUICE_TEST_BP_RECORDS"))
                           : 1000000;
  constexpr size_t kHigh = 2000, kLow = 1000;
  // Growth of this process while the source is paused: records in flight,
  // librdkafka's fetch buffers (capped below), the pipeline's rings.
  constexpr size_t kMemoryBound = 64u << 20;
  MockCluster cluster(1);
  const std::string b = cluster.bootstrap_servers();
  cluster.create_topic("in", 16);
  cluster.create_topic("out", 16);
  std::vector<std::string> vs;
  vs.reserve(kRecords);
  for (int i = 0; i < kRecords; ++i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "bp-%07d", i);
    vs.emplace_back(buf);
  }
  produce(b, "in", values(vs));

  auto gate = std::make_unique<Gate>();
  Gate* g = gate.get();
  g->closed.store(true);
  HarnessOptions o = options(b, "in", "out", "", "backpressure");
  o.middle = std::move(gate);
  o.high_watermark = kHigh;
  o.low_watermark = kLow;
  o.pause_after = 2s;
  o.queue_capacity =
      4096;  // larger than the watermark: the pause, not a full queue, stops the source
  // librdkafka's prefetch while the source holds: at most 100000 messages or
  // 4 MiB of values (sluice's default allows 1M messages, ~340 bytes each in
  // librdkafka beside these 10-byte values).
  o.consumer_properties = {{"queued.max.messages.kbytes", "4096"},
                           {"queued.min.messages", "100000"}};
  if (const char* w = std::getenv("SLUICE_TEST_FWM"))
    o.consumer_properties["fetch.wait.max.ms"] = w;
  if (const char* w = std::getenv("SLUICE_TEST_FEB"))
    o.consumer_properties["fetch.error.backoff.ms"] = w;
  if (const char* w = std::getenv("SLUICE_TEST_RKDEBUG")) o.consumer_properties["debug"] = w;
  Harness h(std::move(o));

  if (std::getenv("SLUICE_TEST_DEBUG")) core::set_log_level(core::LogLevel::kDebug);
  const size_t rss_before = resident_bytes();
  h.start();
  auto deadline = std::chrono::steady_clock::now() + 60s;
  auto not_yet = std::chrono::steady_clock::now();  // last look that saw no hold
  while (!h.source->probe().paused() && std::chrono::steady_clock::now() < deadline) {
    not_yet = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(h.source->probe().paused()) << "the source never paused";
  // First it only holds (stops reading): librdkafka's prefetched messages
  // stay. Partitions are paused at the broker once the hold passes pause_after
  // (2 s here). Checked when this thread saw the hold begin within 1 s.
  const bool paused_at_once = h.source->partitions_paused();
  const bool seen_early = std::chrono::steady_clock::now() - not_yet < 1s;

  size_t peak = 0;
  for (int i = 0; i < 30; ++i) {  // 3 s held: still paused, nothing more read
    peak = std::max(peak, resident_bytes());
    std::this_thread::sleep_for(100ms);
  }
  const uint64_t consumed_while_held = h.source->probe().consumed_total();
  EXPECT_TRUE(h.source->probe().paused());
  if (seen_early) {
    EXPECT_FALSE(paused_at_once) << "partitions paused before pause_after";
  }
  EXPECT_TRUE(h.source->partitions_paused()) << "a 3 s hold did not pause the partitions";
  EXPECT_GE(consumed_while_held, kHigh);
  EXPECT_LE(consumed_while_held,
            kHigh + 256 + 16);  // one poll burst past the mark, plus stragglers
  EXPECT_LT(peak - rss_before, kMemoryBound)
      << "grew " << (peak - rss_before) / (1 << 20) << " MiB while paused";
  EXPECT_LE(h.source->in_flight(), kHigh + 256 + 16);
  // sluice_consumer_lag: what still waits in Kafka, per partition (refreshed
  // every second; the first refresh may predate the committed-offset lookup).
  int64_t lag = 0;
  // Lag comes from periodic watermark queries: give a loaded machine time (up to 30 s).
  for (int attempt = 0; attempt < 300; ++attempt) {
    lag = 0;
    h.source->probe().for_each_partition([&](const SourceProbe::Partition& p) { lag += p.lag(); });
    if (std::abs(lag - static_cast<int64_t>(kRecords - consumed_while_held)) <= 300) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_NEAR(static_cast<double>(lag), static_cast<double>(kRecords - consumed_while_held), 300.0);
  std::printf(
      "[ backpressure ] paused at %llu records in flight; process grew %.1f MiB while 1M waited\n",
      static_cast<unsigned long long>(consumed_while_held), (peak - rss_before) / 1048576.0);

  const auto opened = std::chrono::steady_clock::now();
  g->closed.store(false);
  ASSERT_TRUE(wait_for_records(b, "out", kRecords, 300s));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - opened).count();
  std::printf("[ backpressure ] after reopening: %d records in %.1f s\n", kRecords, seconds);
  ASSERT_EQ(h.stop(), 0) << h.pipeline->failure();
  EXPECT_FALSE(h.source->probe().paused());
  EXPECT_FALSE(h.source->partitions_paused());
  EXPECT_EQ(h.source->probe().consumed_total(), static_cast<uint64_t>(kRecords));
  EXPECT_EQ(committed_offsets(b, "backpressure", "in"), end_offsets(b, "in"));
  std::vector<Message> out = read_all(b, "out");
  ASSERT_EQ(out.size(), static_cast<size_t>(kRecords));
  EXPECT_EQ(count_values(out), count_values(values(vs)));
}

// Overload policies at the Kafka edge: a pipeline that manages ~2,500
// records/s (400 µs each) gets a backlog of 20,000 records at once.
constexpr int kOverloadRecords = 20000;
constexpr auto kObjective = std::chrono::milliseconds(2000);

struct Overload {
  std::map<std::string, int64_t> sent_at;  // value → input Kafka timestamp
  std::vector<Message> results, dead_letters;
  int64_t max_latency_ms = 0;
  uint64_t shed = 0;
};

Overload run_overloaded(bool shed) {
  MockCluster cluster(1);
  const std::string b = cluster.bootstrap_servers();
  cluster.create_topic("in", 4);
  cluster.create_topic("out", 4);
  cluster.create_topic("dlq", 1);
  HarnessOptions o = options(b, "in", "out", "dlq", shed ? "shed" : "pause");
  auto gate = std::make_unique<Gate>();
  gate->delay_us.store(400);
  o.middle = std::move(gate);
  o.high_watermark = 200;
  o.low_watermark = 100;
  o.shed = shed;
  o.latency_objective = kObjective;
  Harness h(std::move(o));
  h.start();
  // The backlog arrives once the source has its partitions (the group's first
  // join takes seconds), so that only the pipeline's own pace ages it.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!h.source->not_ready().empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(h.source->not_ready().empty()) << h.source->not_ready();
  std::vector<std::string> vs;
  for (int i = 0; i < kOverloadRecords; ++i) vs.push_back("load-" + std::to_string(i));
  produce(b, "in", values(vs));
  EXPECT_TRUE(wait_until_committed(b, shed ? "shed" : "pause", "in", 120s));
  EXPECT_EQ(h.stop(), 0) << h.pipeline->failure();
  Overload r;
  r.shed = h.source->probe().shed_records();
  for (const Message& m : read_all(b, "in")) r.sent_at[m.value] = m.timestamp_ms;
  r.results = read_all(b, "out");
  r.dead_letters = read_all(b, "dlq");
  for (const Message& m : r.results)
    r.max_latency_ms = std::max(r.max_latency_ms, m.timestamp_ms - r.sent_at[m.value]);
  std::printf("[ overload %s ] %zu results (latency up to %lld ms), %zu shed\n",
              shed ? "shed" : "pause", r.results.size(), static_cast<long long>(r.max_latency_ms),
              r.dead_letters.size());
  return r;
}

TEST(KafkaOverload, PauseProcessesEveryRecordAndLetsLatencyGrow) {
  Overload r = run_overloaded(/*shed=*/false);
  EXPECT_EQ(r.results.size(), static_cast<size_t>(kOverloadRecords));
  EXPECT_EQ(count_values(r.results).size(), static_cast<size_t>(kOverloadRecords));
  EXPECT_TRUE(r.dead_letters.empty());
  EXPECT_EQ(r.shed, 0u);
  EXPECT_GT(r.max_latency_ms, kObjective.count());  // the backlog waited
}

TEST(KafkaOverload, ShedDeadLettersRecordsOlderThanTheObjective) {
  Overload r = run_overloaded(/*shed=*/true);
  // Every input exactly once: processed, or shed to the dead-letter topic.
  std::map<std::string, int> seen = count_values(r.results);
  for (const Message& m : r.dead_letters) {
    EXPECT_EQ(m.header("sluice.error"), "overload") << m.value;
    ++seen[m.value];
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kOverloadRecords));
  for (const auto& [v, n] : seen) EXPECT_EQ(n, 1) << v;
  EXPECT_GT(r.dead_letters.size(), 0u);
  EXPECT_GT(r.results.size(), 0u);
  EXPECT_EQ(r.shed, r.dead_letters.size());
  // A result was younger than the objective when read; what follows is at
  // most high_watermark records of work (0.08 s) plus a loaded machine.
  EXPECT_LT(r.max_latency_ms, kObjective.count() + 1500);
}

}  // namespace
}  // namespace sluice::kafka::testing
