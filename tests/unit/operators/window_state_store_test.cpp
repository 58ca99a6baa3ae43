// window_aggregate on its keyed state store (an in-memory changelog): event
// time per input partition, and exact per-window counts across a "crash" —
// the state restored from any prefix of the changelog and the input
// re-delivered from an earlier offset, as at-least-once delivery does.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <tuple>

#include "operators/window_aggregate.h"
#include "src/core/emitter.h"
#include "src/core/pipeline.h"
#include "src/metrics/registry.h"
#include "src/state/entry.h"
#include "src/state/keyed_store.h"
#include "tests/support/memory_changelog.h"

namespace sluice::operators {
namespace {

using nlohmann::json;
using state::testing::MemoryChangelog;

struct In {
  int32_t partition;
  int64_t offset;
  std::string group;
  int64_t ts;
};

class Acks : public core::AckSink {
 public:
  void retain(uint64_t) override {}
  void complete(uint64_t) override {}
};

// Emits classified records with their input partition and offset.
class PartitionedSource : public core::Source {
 public:
  PartitionedSource(std::vector<In> in, Acks* acks) : in_(std::move(in)), acks_(acks) {}
  Poll poll(core::Emitter& out) override {
    if (i_ == in_.size()) return Poll::kEnd;
    const In& in = in_[i_++];
    core::Record r = core::Record::owned(std::nullopt, "{}");
    r.group = in.group;
    r.label = "positive";
    r.score = 1.0f;
    r.timestamp_ms = in.ts;
    r.partition = in.partition;
    r.offset = in.offset;
    r.ack = core::Ack(acks_, static_cast<uint64_t>(in.offset));
    out.emit(std::move(r));
    return Poll::kEmitted;
  }

 private:
  std::vector<In> in_;
  Acks* acks_;
  size_t i_ = 0;
};

class Sink : public core::Operator {
 public:
  core::ItemKind input_kind() const override { return core::ItemKind::kRecord; }
  core::ItemKind output_kind() const override { return core::ItemKind::kNone; }
  void process(core::OperatorState*, core::Item&& item, core::Emitter&) const override {
    auto& r = std::get<core::Record>(item);
    std::lock_guard lock(mu);
    if (r.dest_topic == core::intern_topic("aggregates"))
      aggregates.push_back(json::parse(r.value()));
    r.ack.complete();  // delivered
  }
  mutable std::mutex mu;
  mutable std::vector<json> aggregates;
};

WindowAggregateOptions options(state::KeyedStore* store, metrics::Registry* registry) {
  WindowAggregateOptions o;
  o.window.size_ms = o.window.advance_ms = 1'000;
  o.window.allowed_lateness_ms = 0;
  o.window.idle_timeout = std::chrono::nanoseconds(0);
  o.aggregates_topic = "aggregates";
  o.store = store;
  o.metrics = registry;
  return o;
}

std::vector<json> run(std::vector<In> in, state::KeyedStore* store,
                      metrics::Registry* registry = nullptr) {
  Acks acks;
  core::Pipeline p({"state-test", 64});
  p.set_source("src", std::make_unique<PartitionedSource>(std::move(in), &acks));
  p.add_stage("windows", std::make_unique<WindowAggregate>(options(store, registry), "windows"));
  auto sink = std::make_unique<Sink>();
  Sink* s = sink.get();
  p.add_stage("sink", std::move(sink));
  p.start();
  EXPECT_EQ(p.wait(), 0) << p.failure();
  return s->aggregates;
}

// Two partitions; partition 1's event time runs 100 s behind partition 0's,
// as when a backlog with skewed partitions is caught up. 20 keys' records,
// 10 per second per partition, over 30 s; then one record per partition far
// ahead closes every window (it stays open itself).
std::vector<In> skewed_input() {
  std::vector<In> in;
  int64_t offset[2] = {0, 0};
  for (int i = 0; i < 300; ++i) {
    for (int32_t p : {0, 1}) {
      const int64_t base = p == 0 ? 100'000 : 0;
      in.push_back({p, offset[p]++, "key" + std::to_string((i * 7 + p) % 20), base + i * 100});
    }
  }
  for (int32_t p : {0, 1}) in.push_back({p, offset[p]++, "end", 10'000'000});
  return in;
}
constexpr uint64_t kCountable = 600;  // records in windows that close

// (key, window_start, partition) → count, checking that every emission of a
// window carries the same count.
std::map<std::tuple<std::string, int64_t, int32_t>, uint64_t> dedupe(const std::vector<json>& all) {
  std::map<std::tuple<std::string, int64_t, int32_t>, uint64_t> windows;
  for (const json& a : all) {
    auto id = std::make_tuple(a["key"].get<std::string>(), a["window_start"].get<int64_t>(),
                              a["partition"].get<int32_t>());
    auto [it, fresh] = windows.emplace(id, a["count"].get<uint64_t>());
    EXPECT_EQ(it->second, a["count"].get<uint64_t>())
        << "window " << a.dump() << " emitted twice with different counts";
  }
  return windows;
}

uint64_t sum(const std::map<std::tuple<std::string, int64_t, int32_t>, uint64_t>& windows) {
  uint64_t n = 0;
  for (const auto& [id, count] : windows) n += count;
  return n;
}

TEST(WindowAggregateState, EventTimeAdvancesPerPartitionSoSkewedPartitionsLoseNothing) {
  // No store: windows in memory, but still one clock per partition.
  std::vector<json> out = run(skewed_input(), nullptr);
  auto windows = dedupe(out);
  EXPECT_EQ(out.size(), windows.size());  // nothing emitted twice without crashes
  // + the two "end" records, closed at the end of input (no store).
  EXPECT_EQ(sum(windows), kCountable + 2);
}

TEST(WindowAggregateState, CountsAreExactAfterRestoringAnyPrefixOfTheChangelogAndReplaying) {
  const std::vector<In> input = skewed_input();
  // A first run over the first 400 records, then "kill -9": only a prefix
  // of the changelog reached the broker (cut at several points), and the
  // committed input offsets lag behind (the replay starts at 0 here).
  for (size_t cut : {size_t{0}, size_t{37}, size_t{150}, size_t{199}, SIZE_MAX}) {
    SCOPED_TRACE("changelog records kept per partition: " + std::to_string(cut));
    MemoryChangelog log;
    state::KeyedStore first("windows", nullptr, "test");
    first.bind(&log);
    for (int32_t p : {0, 1}) first.post_restored(p, state::PartitionSnapshot{});
    std::vector<json> emitted = run(std::vector<In>(input.begin(), input.begin() + 400), &first);

    MemoryChangelog log2;
    state::KeyedStore second("windows", nullptr, "test");
    second.bind(&log2);
    for (int32_t p : {0, 1}) {
      state::PartitionSnapshot snap = log.restore(p, cut);
      // The restarted process writes on after what survived.
      for (const auto& r : log.records) {
        if (r.partition != p) continue;
        if (log2.count(p) == std::min(cut, log.count(p))) break;
        log2.records.push_back(r);
      }
      second.post_restored(p, std::move(snap));
    }
    std::vector<json> replayed = run(input, &second);
    emitted.insert(emitted.end(), replayed.begin(), replayed.end());
    auto windows = dedupe(emitted);
    EXPECT_EQ(sum(windows), kCountable);  // every record counted once, in windows that closed
  }
}

TEST(WindowAggregateState, ReDeliveredRecordsAreSkippedAndCounted) {
  metrics::Registry registry;
  MemoryChangelog log;
  state::KeyedStore store("windows", &registry, "test");
  store.bind(&log);
  store.post_restored(0, state::PartitionSnapshot{});
  std::vector<In> in{
      {0, 0, "a", 0}, {0, 1, "a", 10}, {0, 0, "a", 0}, {0, 1, "a", 10}, {0, 2, "a", 5'000}};
  std::vector<json> out = run(in, &store, &registry);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["count"], 2);  // not 4
  const std::string text = registry.render();
  EXPECT_NE(
      text.find(
          R"(sluice_state_skipped_records_total{pipeline="test",reason="applied",stage="windows"} 2)"),
      std::string::npos)
      << text;
}

TEST(WindowAggregateState, RecordsOfAPartitionNotOwnedChangeNoState) {
  MemoryChangelog log;
  state::KeyedStore store("windows", nullptr, "test");
  store.bind(&log);
  store.post_restored(0, state::PartitionSnapshot{});
  std::vector<In> in{{1, 0, "a", 0}, {1, 1, "a", 5'000}};  // partition 1: revoked / never assigned
  std::vector<json> out = run(in, &store);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(log.count(1), 0u);
}

TEST(WindowAggregateState, AHostileChangelogEntryIsSkippedNotACrash) {
  MemoryChangelog log;
  state::KeyedStore store("windows", nullptr, "test");
  store.bind(&log);
  state::PartitionSnapshot snap;
  std::string entry;
  state::append_entry(entry, 3, "not windows at all");
  snap.fold("kvictim", entry);
  store.post_restored(0, std::move(snap));
  std::vector<In> in{{0, 4, "victim", 0}, {0, 5, "victim", 5'000}};
  std::vector<json> out = run(in, &store);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["count"], 1);
}

}  // namespace
}  // namespace sluice::operators
