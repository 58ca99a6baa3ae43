// Backpressure: a stage that stops taking records while a million wait in
// Kafka. The source must stop reading at the high watermark and pause its
// partitions once that lasts (so memory stays bounded by configuration), keep
// its group membership, and resume and deliver everything once the stage
// moves again.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace sluice::kafka::testing
