// WindowAggregator: tumbling and hopping event-time windows, lateness, idle
// closing, keys, labels, overflow — record by record, with explicit clocks.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <tuple>

#include "operators/window_aggregate_state.h"

namespace sluice::operators {
namespace {

using namespace std::chrono_literals;
using core::TimePoint;

const TimePoint kT0 = TimePoint() + 1000h;  // an arbitrary processing-time origin

WindowConfig tumbling(int64_t size_ms, int64_t lateness_ms = 0) {
  WindowConfig c;
  c.size_ms = c.advance_ms = size_ms;
  c.allowed_lateness_ms = lateness_ms;
  return c;
}

WindowConfig hopping(int64_t size_ms, int64_t advance_ms, int64_t lateness_ms = 0) {
  WindowConfig c;
  c.size_ms = size_ms;
  c.advance_ms = advance_ms;
  c.allowed_lateness_ms = lateness_ms;
  return c;
}

// Shorthand: feeds one record at processing time kT0 and returns its admission.
struct Feeder {
  WindowAggregator agg;
  std::vector<ClosedWindow> closed;
  explicit Feeder(WindowConfig c) : agg(std::move(c)) {}
  Admission add(std::string_view key, std::string_view label, double score, int64_t t,
                TimePoint now = kT0) {
    return agg.add(key, label, score, t, now, closed);
  }
};

uint64_t label_count(const ClosedWindow& w, std::string_view label) {
  for (const auto& lc : w.labels)
    if (lc.label == label) return lc.count;
  return 0;
}

TEST(WindowAggregator, TumblingWindowClosesWhenStreamTimeReachesItsEnd) {
  Feeder f(tumbling(10'000));
  EXPECT_EQ(f.add("acme", "negative", 0.9, 1'000), Admission::kCounted);
  EXPECT_EQ(f.add("acme", "positive", 0.7, 2'000), Admission::kCounted);
  EXPECT_EQ(f.add("beta", "positive", 0.8, 3'000), Admission::kCounted);
  EXPECT_EQ(f.add("acme", "negative", 0.5, 9'999), Admission::kCounted);
  EXPECT_TRUE(f.closed.empty());
  EXPECT_EQ(f.agg.open_keys(), 2u);
  EXPECT_EQ(f.agg.open_windows(), 2u);

  EXPECT_EQ(f.add("beta", "negative", 0.6, 10'000),
            Admission::kCounted);  // first record of [10s, 20s)
  ASSERT_EQ(f.closed.size(), 2u);
  const ClosedWindow& a = f.closed[0];
  EXPECT_EQ(a.key, "acme");
  EXPECT_EQ(a.start_ms, 0);
  EXPECT_EQ(a.end_ms, 10'000);
  EXPECT_EQ(a.count, 3u);
  EXPECT_EQ(a.negative, 2u);
  ASSERT_EQ(a.labels.size(), 2u);
  EXPECT_EQ(a.labels[0].label, "negative");
  EXPECT_EQ(a.labels[0].count, 2u);
  EXPECT_EQ(a.labels[1].label, "positive");
  EXPECT_EQ(a.labels[1].count, 1u);
  EXPECT_DOUBLE_EQ(a.mean_score(), (0.9 + 0.7 + 0.5) / 3);
  EXPECT_DOUBLE_EQ(a.negative_ratio(), 2.0 / 3);
  EXPECT_EQ(a.trigger, WindowTrigger::kEventTime);
  const ClosedWindow& b = f.closed[1];
  EXPECT_EQ(b.key, "beta");
  EXPECT_EQ(b.count, 1u);
  EXPECT_EQ(b.negative, 0u);
  EXPECT_DOUBLE_EQ(b.negative_ratio(), 0.0);
  ASSERT_EQ(b.labels.size(), 1u);
  EXPECT_EQ(b.labels[0].label, "positive");
  EXPECT_EQ(f.agg.open_keys(), 1u);  // acme has no open window any more
}

TEST(WindowAggregator, AllowedLatenessKeepsWindowOpenThenRecordsAreLate) {
  Feeder f(tumbling(10'000, 2'000));
  f.add("k", "positive", 1.0, 5'000);
  f.add("k", "positive", 1.0, 11'000);  // stream time 11s: [0,10s) open until 12s
  EXPECT_TRUE(f.closed.empty());
  EXPECT_EQ(f.add("k", "negative", 1.0, 9'000),
            Admission::kCounted);  // out of order, within lateness
  f.add("k", "positive", 1.0, 12'000);
  ASSERT_EQ(f.closed.size(), 1u);
  EXPECT_EQ(f.closed[0].start_ms, 0);
  EXPECT_EQ(f.closed[0].count, 2u);
  EXPECT_EQ(f.closed[0].negative, 1u);
  f.closed.clear();

  EXPECT_EQ(f.add("k", "negative", 1.0, 9'500), Admission::kLate);
  EXPECT_EQ(f.add("new-key", "negative", 1.0, 0), Admission::kLate);
  EXPECT_TRUE(f.closed.empty());
  EXPECT_EQ(f.agg.open_keys(), 1u);  // a late record opens nothing
  f.agg.close_all(f.closed);
  ASSERT_EQ(f.closed.size(), 1u);
  EXPECT_EQ(f.closed[0].start_ms, 10'000);
  EXPECT_EQ(f.closed[0].count, 2u);
  EXPECT_EQ(f.closed[0].negative, 0u);
}

TEST(WindowAggregator, HoppingRecordCountsInEveryWindowThatContainsIt) {
  Feeder f(hopping(10'000, 5'000));
  f.add("k", "positive", 0.5, 7'000);  // in [0,10s) and [5s,15s)
  EXPECT_EQ(f.agg.open_windows(), 2u);
  f.add("k", "negative", 0.5, 9'000);   // in [0,10s) and [5s,15s)
  f.add("k", "negative", 0.5, 12'000);  // closes [0,10s); in [5s,15s) and [10s,20s)
  ASSERT_EQ(f.closed.size(), 1u);
  EXPECT_EQ(f.closed[0].start_ms, 0);
  EXPECT_EQ(f.closed[0].end_ms, 10'000);
  EXPECT_EQ(f.closed[0].count, 2u);
  EXPECT_EQ(f.agg.open_windows(), 2u);
  f.add("k", "positive", 0.5, 15'000);  // closes [5s,15s); opens [15s,25s)
  ASSERT_EQ(f.closed.size(), 2u);
  EXPECT_EQ(f.closed[1].start_ms, 5'000);
  EXPECT_EQ(f.closed[1].end_ms, 15'000);
  EXPECT_EQ(f.closed[1].count, 3u);
  EXPECT_EQ(f.closed[1].negative, 2u);
  EXPECT_EQ(f.agg.open_windows(), 2u);  // [10s,20s) and [15s,25s)
}

TEST(WindowAggregator, HoppingRecordPartlyLateCountsOnlyInItsOpenWindows) {
  Feeder f(hopping(10'000, 5'000));
  f.add("k", "positive", 0.5, 10'000);  // closes nothing open yet; stream time 10s
  EXPECT_EQ(f.add("k", "negative", 0.5, 7'000),
            Admission::kCounted);  // [0,10s) closed, [5s,15s) open
  f.agg.close_all(f.closed);
  ASSERT_EQ(f.closed.size(), 2u);
  EXPECT_EQ(f.closed[0].start_ms, 5'000);
  EXPECT_EQ(f.closed[0].count, 2u);
  EXPECT_EQ(f.closed[0].negative, 1u);
  EXPECT_EQ(f.closed[1].start_ms, 10'000);
  EXPECT_EQ(f.closed[1].count, 1u);
  EXPECT_EQ(f.closed[1].trigger, WindowTrigger::kEndOfInput);
}

TEST(WindowAggregator, UnevenHoppingAdvanceAssignsExactWindows) {
  Feeder f(hopping(10'000, 3'000));
  f.add("k", "positive", 1, 9'500);  // starts 9s, 6s, 3s, 0s
  EXPECT_EQ(f.agg.open_windows(), 4u);
  f.agg.close_all(f.closed);
  ASSERT_EQ(f.closed.size(), 4u);
  EXPECT_EQ(f.closed[0].start_ms, 0);
  EXPECT_EQ(f.closed[1].start_ms, 3'000);
  EXPECT_EQ(f.closed[2].start_ms, 6'000);
  EXPECT_EQ(f.closed[3].start_ms, 9'000);
  EXPECT_EQ(f.closed[3].end_ms, 19'000);
}

TEST(WindowAggregator, NegativeEventTimesUseFloorAlignedWindows) {
  Feeder f(tumbling(10'000));
  f.add("k", "positive", 1, -1);
  f.agg.close_all(f.closed);
  ASSERT_EQ(f.closed.size(), 1u);
  EXPECT_EQ(f.closed[0].start_ms, -10'000);
  EXPECT_EQ(f.closed[0].end_ms, 0);
}

TEST(WindowAggregator, RecordsWithoutKeyGoToMissingKeyOrAreSkipped) {
  Feeder f(tumbling(1'000));
  EXPECT_EQ(f.add("", "positive", 1, 10), Admission::kCounted);
  f.agg.close_all(f.closed);
  ASSERT_EQ(f.closed.size(), 1u);
  EXPECT_EQ(f.closed[0].key, "unknown");

  WindowConfig c = tumbling(1'000);
  c.missing_key = "";
  Feeder g(c);
  EXPECT_EQ(g.add("", "positive", 1, 10), Admission::kUnkeyed);
  EXPECT_EQ(g.agg.open_keys(), 0u);
}

TEST(WindowAggregator, RecordsWithoutLabelAreNotCountedButAdvanceStreamTime) {
  Feeder f(tumbling(1'000));
  f.add("k", "positive", 1, 10);
  EXPECT_EQ(f.add("k", "", 0, 5'000), Admission::kUnlabelled);
  ASSERT_EQ(f.closed.size(), 1u);
  EXPECT_EQ(f.closed[0].count, 1u);
  EXPECT_EQ(f.agg.open_windows(), 0u);
}

TEST(WindowAggregator, NegativeLabelIsConfigurable) {
  WindowConfig c = tumbling(1'000);
  c.negative_label = "LABEL_0";
  Feeder f(c);
  f.add("k", "LABEL_0", 1, 1);
  f.add("k", "negative", 1, 2);
  f.add("k", "LABEL_1", 1, 3);
  f.agg.close_all(f.closed);
  ASSERT_EQ(f.closed.size(), 1u);
  EXPECT_EQ(f.closed[0].negative, 1u);
  EXPECT_EQ(label_count(f.closed[0], "negative"), 1u);
  EXPECT_EQ(f.closed[0].labels.size(), 3u);
}

TEST(WindowAggregator, NeutralRecordsCountInTheWindowButNotAmongTheOpinionated) {
  Feeder f(tumbling(1'000));
  for (const char* label : {"negative", "negative", "neutral", "neutral", "neutral", "positive"})
    f.add("k", label, 1, 1);
  f.add("k", "uncertain", 1, 2);  // a classifier's below-min_score label: neither polarity
  f.agg.close_all(f.closed);
  ASSERT_EQ(f.closed.size(), 1u);
  const ClosedWindow& w = f.closed[0];
  EXPECT_EQ(w.count, 7u);
  EXPECT_EQ(label_count(w, "neutral"), 3u);
  EXPECT_EQ(w.negative, 2u);
  EXPECT_EQ(w.positive, 1u);
  EXPECT_EQ(w.opinionated(), 3u);
  EXPECT_DOUBLE_EQ(w.negative_ratio(), 2.0 / 7);
  EXPECT_DOUBLE_EQ(w.negative_ratio_opinionated(), 2.0 / 3);
}

TEST(WindowAggregator, WindowWithoutOpinionatedRecordsHasZeroOpinionatedRatio) {
  Feeder f(tumbling(1'000));
  f.add("k", "neutral", 1, 1);
  f.agg.close_all(f.closed);
  ASSERT_EQ(f.closed.size(), 1u);
  EXPECT_EQ(f.closed[0].opinionated(), 0u);
  EXPECT_DOUBLE_EQ(f.closed[0].negative_ratio_opinionated(), 0.0);
}

TEST(WindowAggregator, PositiveLabelIsConfigurable) {
  WindowConfig c = tumbling(1'000);
  c.negative_label = "NEG";
  c.positive_label = "POS";
  Feeder f(c);
  for (const char* label : {"NEG", "NEU", "POS", "POS", "positive"}) f.add("k", label, 1, 1);
  f.agg.close_all(f.closed);
  ASSERT_EQ(f.closed.size(), 1u);
  EXPECT_EQ(f.closed[0].negative, 1u);
  EXPECT_EQ(f.closed[0].positive, 2u);
  EXPECT_DOUBLE_EQ(f.closed[0].negative_ratio_opinionated(), 1.0 / 3);
}

TEST(WindowAggregator, KeysBeyondMaxKeysCountUnderOverflowKeyUntilWindowsClose) {
  WindowConfig c = tumbling(1'000);
  c.max_keys = 2;
  Feeder f(c);
  f.add("a", "positive", 1, 1);
  f.add("b", "positive", 1, 2);
  f.add("c", "negative", 1, 3);
  f.add("d", "negative", 1, 4);
  f.add("a", "positive", 1, 5);  // existing key: still its own
  EXPECT_EQ(f.agg.overflowed(), 2u);
  EXPECT_EQ(f.agg.open_keys(), 3u);  // a, b and the overflow key
  f.add("c", "positive", 1, 1'000);  // closes the first window: keys are free again
  ASSERT_EQ(f.closed.size(), 3u);
  EXPECT_EQ(f.closed[0].key, "__other__");
  EXPECT_EQ(f.closed[0].count, 2u);
  EXPECT_EQ(f.closed[1].key, "a");
  EXPECT_EQ(f.closed[1].count, 2u);
  EXPECT_EQ(f.closed[2].key, "b");
  EXPECT_EQ(f.agg.overflowed(), 2u);  // "c" got its own key this time
  f.closed.clear();
  f.agg.close_all(f.closed);
  ASSERT_EQ(f.closed.size(), 1u);
  EXPECT_EQ(f.closed[0].key, "c");
}

TEST(WindowAggregator, IdleStreamClosesWindowsAsProcessingTimePasses) {
  WindowConfig c = tumbling(10'000, 1'000);
  c.idle_timeout = 2s;
  Feeder f(c);
  EXPECT_EQ(f.agg.next_deadline(), TimePoint::max());  // nothing open
  f.add("k", "positive", 1, 5'000, kT0);
  // [0,10s) is due at stream time 11s: 6 s of idling after the last record.
  EXPECT_EQ(f.agg.next_deadline(), kT0 + 6s + 999us);
  f.agg.on_idle(kT0 + 1s, f.closed);  // not idle yet
  f.agg.on_idle(kT0 + 5s, f.closed);  // idle, stream time 10s: within lateness
  EXPECT_TRUE(f.closed.empty());
  EXPECT_EQ(f.agg.stream_time_ms(), 10'000);
  f.agg.on_idle(kT0 + 6s, f.closed);
  ASSERT_EQ(f.closed.size(), 1u);
  EXPECT_EQ(f.closed[0].trigger, WindowTrigger::kIdle);
  EXPECT_EQ(f.closed[0].count, 1u);
  EXPECT_EQ(f.agg.next_deadline(), TimePoint::max());
  // Idling moved stream time on: a record for the closed window is late.
  EXPECT_EQ(f.add("k", "positive", 1, 9'000, kT0 + 7s), Admission::kLate);
}

TEST(WindowAggregator, IdleDeadlineIsNeverBeforeIdleTimeout) {
  WindowConfig c = tumbling(1'000);
  c.idle_timeout = 3s;
  Feeder f(c);
  f.add("k", "positive", 1, 999, kT0);  // due after 1 ms of event time
  EXPECT_EQ(f.agg.next_deadline(), kT0 + 3s + 999us);
  f.agg.on_idle(kT0 + 2999ms, f.closed);
  EXPECT_TRUE(f.closed.empty());
  f.agg.on_idle(kT0 + 3s, f.closed);
  EXPECT_EQ(f.closed.size(), 1u);
}

TEST(WindowAggregator, ZeroIdleTimeoutNeverClosesOnProcessingTime) {
  Feeder f(tumbling(1'000));
  f.add("k", "positive", 1, 1, kT0);
  EXPECT_EQ(f.agg.next_deadline(), TimePoint::max());
  f.agg.on_idle(kT0 + 1h, f.closed);
  EXPECT_TRUE(f.closed.empty());
}

TEST(WindowAggregator, CloseAllReportsEveryWindowByEndThenKey) {
  Feeder f(tumbling(1'000));
  f.add("b", "positive", 1, 1'500);
  f.add("a", "positive", 1, 1'200);
  f.add("c", "positive", 1, 100);  // late: [0, 1s) closed when stream time passed 1 s
  f.add("z", "positive", 1, 2'500);
  f.agg.close_all(f.closed);
  ASSERT_EQ(f.closed.size(), 3u);
  EXPECT_EQ(f.closed[0].key, "a");
  EXPECT_EQ(f.closed[1].key, "b");
  EXPECT_EQ(f.closed[2].key, "z");
  EXPECT_EQ(f.closed[2].start_ms, 2'000);
  EXPECT_EQ(f.agg.open_keys(), 0u);
  EXPECT_EQ(f.agg.open_windows(), 0u);
}

TEST(WindowAggregator, RejectsWindowsThatMakeNoSense) {
  EXPECT_THROW(WindowAggregator(hopping(1'000, 2'000)), std::invalid_argument);
  EXPECT_THROW(WindowAggregator(hopping(0, 0)), std::invalid_argument);
  EXPECT_THROW(WindowAggregator(tumbling(1'000, -1)), std::invalid_argument);
}

// Reference model, written independently of the aggregator's data structures:
// a record is counted in window s iff that window is open when it arrives,
// i.e. s + size + lateness > max event time seen so far (itself included).
TEST(WindowAggregator, MatchesReferenceModelOnRandomDisorderedStreams) {
  for (int seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    const int64_t size = 1'000 * (1 + rng() % 5);
    const int64_t advance = (seed % 2) ? size : size / (1 + rng() % 3);
    const int64_t lateness = 500 * (rng() % 4);
    WindowConfig c = hopping(size, advance, lateness);
    c.max_keys = 1'000;
    Feeder f(c);

    using WinKey = std::tuple<std::string, int64_t>;  // key, start
    std::map<WinKey, std::map<std::string, uint64_t>> expected;
    int64_t max_t = INT64_MIN;
    uint64_t late = 0, got_late = 0;
    const char* labels[] = {"negative", "positive", "neutral"};
    int64_t base = 0;
    for (int i = 0; i < 5'000; ++i) {
      base += rng() % 40;
      int64_t t = base - static_cast<int64_t>(rng() % 3'000);  // up to 3 s out of order
      std::string key = "k" + std::to_string(rng() % 7);
      std::string label = labels[rng() % 3];
      max_t = std::max(max_t, t);
      bool counted = false;
      for (int64_t s = (t >= 0 ? t / advance : (t - advance + 1) / advance) * advance; s > t - size;
           s -= advance) {
        if (s + size + lateness > max_t) {
          expected[{key, s}][label] += 1;
          counted = true;
        }
      }
      if (!counted) ++late;
      if (f.add(key, label, 0.5, t) == Admission::kLate) ++got_late;
    }
    size_t event_closed = f.closed.size();
    f.agg.close_all(f.closed);

    EXPECT_EQ(got_late, late) << "seed " << seed;
    std::map<WinKey, std::map<std::string, uint64_t>> got;
    int64_t prev_end = INT64_MIN;
    for (size_t i = 0; i < f.closed.size(); ++i) {
      const ClosedWindow& w = f.closed[i];
      EXPECT_GE(w.end_ms, prev_end) << "seed " << seed << ": windows must close in end order";
      prev_end = w.end_ms;
      EXPECT_EQ(w.end_ms - w.start_ms, size);
      EXPECT_EQ(w.trigger,
                i < event_closed ? WindowTrigger::kEventTime : WindowTrigger::kEndOfInput);
      auto [it, fresh] = got.try_emplace({w.key, w.start_ms});
      EXPECT_TRUE(fresh) << "seed " << seed << ": window reported twice";
      uint64_t sum = 0;
      for (const auto& lc : w.labels) {
        it->second[lc.label] = lc.count;
        sum += lc.count;
      }
      EXPECT_EQ(sum, w.count);
      EXPECT_EQ(w.negative, label_count(w, "negative"));
    }
    EXPECT_EQ(got, expected) << "seed " << seed << " size " << size << " advance " << advance
                             << " lateness " << lateness;
    EXPECT_EQ(f.agg.open_windows(), 0u);
  }
}

}  // namespace
}  // namespace sluice::operators
