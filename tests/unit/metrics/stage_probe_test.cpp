#include "src/metrics/stage_probe.h"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <stdexcept>
#include <string>

namespace sluice::metrics {
namespace {

// What src/core keeps per stage: plain atomics, no metrics dependency.
struct CoreLikeStageStats {
  std::atomic<std::uint64_t> in{0}, out{0}, dead{0}, errors{0}, depth{0};
  std::atomic<double> busy{0};
};

StageReaders readers_for(const CoreLikeStageStats& s) {
  auto load = [](const auto& a) { return [&a] { return double(a.load()); }; };
  return StageReaders{load(s.in),   load(s.out),   load(s.dead),         load(s.errors),
                      load(s.busy), load(s.depth), [] { return 1024.0; }};
}

TEST(MetricsStageProbe, ExposesEveryStatisticLabelledWithPipelineAndStage) {
  Registry r;
  CoreLikeStageStats stats;
  stats.in = 10;
  stats.out = 8;
  stats.dead = 1;
  stats.errors = 2;
  stats.busy = 0.25;
  stats.depth = 3;
  StageProbe probe(r, "sentiment", "tokenize", readers_for(stats));
  const std::string l = "{pipeline=\"sentiment\",stage=\"tokenize\"}";
  EXPECT_EQ(r.render(),
            "# HELP sluice_stage_busy_seconds_total Seconds the stage spent working (not parked).\n"
            "# TYPE sluice_stage_busy_seconds_total counter\n"
            "sluice_stage_busy_seconds_total" +
                l +
                " 0.25\n"
                "# HELP sluice_stage_dead_letters_total Items the stage routed to dead letters.\n"
                "# TYPE sluice_stage_dead_letters_total counter\n"
                "sluice_stage_dead_letters_total" +
                l +
                " 1\n"
                "# HELP sluice_stage_errors_total Errors the stage hit.\n"
                "# TYPE sluice_stage_errors_total counter\n"
                "sluice_stage_errors_total" +
                l +
                " 2\n"
                "# HELP sluice_stage_items_in_total Items the stage took from its input.\n"
                "# TYPE sluice_stage_items_in_total counter\n"
                "sluice_stage_items_in_total" +
                l +
                " 10\n"
                "# HELP sluice_stage_items_out_total Items the stage emitted downstream.\n"
                "# TYPE sluice_stage_items_out_total counter\n"
                "sluice_stage_items_out_total" +
                l +
                " 8\n"
                "# HELP sluice_stage_queue_capacity Capacity of the stage's input queue in items.\n"
                "# TYPE sluice_stage_queue_capacity gauge\n"
                "sluice_stage_queue_capacity" +
                l +
                " 1024\n"
                "# HELP sluice_stage_queue_depth Items waiting in the stage's input queue.\n"
                "# TYPE sluice_stage_queue_depth gauge\n"
                "sluice_stage_queue_depth" +
                l + " 3\n");
  stats.in = 11;  // read at scrape time
  EXPECT_NE(r.render().find("sluice_stage_items_in_total" + l + " 11\n"), std::string::npos);
}

TEST(MetricsStageProbe, DestructorRemovesItsSeriesOnly) {
  Registry r;
  CoreLikeStageStats a, b;
  a.in = 1;
  b.in = 2;
  StageProbe keep(r, "p", "infer", readers_for(b));
  {
    StageProbe gone(r, "p", "tokenize", readers_for(a));
    EXPECT_NE(r.render().find("stage=\"tokenize\""), std::string::npos);
  }
  const std::string body = r.render();
  EXPECT_EQ(body.find("stage=\"tokenize\""), std::string::npos);
  EXPECT_NE(body.find("sluice_stage_items_in_total{pipeline=\"p\",stage=\"infer\"} 2\n"),
            std::string::npos);
}

TEST(MetricsStageProbe, SkipsEmptyReadersAndAddsExtraLabels) {
  Registry r;
  StageReaders readers;
  readers.items_out = [] { return 5.0; };
  StageProbe probe(r, "p", "source", std::move(readers), {{"worker", "0"}});
  EXPECT_EQ(r.render(),
            "# HELP sluice_stage_items_out_total Items the stage emitted downstream.\n"
            "# TYPE sluice_stage_items_out_total counter\n"
            "sluice_stage_items_out_total{pipeline=\"p\",stage=\"source\",worker=\"0\"} 5\n");
}

TEST(MetricsStageProbe, MovedFromProbeNoLongerOwnsTheSeries) {
  Registry r;
  CoreLikeStageStats s;
  std::optional<StageProbe> outer;
  {
    StageProbe inner(r, "p", "sink", readers_for(s));
    outer.emplace(std::move(inner));
  }  // inner destroyed: must not remove the series now owned by `outer`
  EXPECT_NE(r.render().find("stage=\"sink\""), std::string::npos);
  outer.reset();
  EXPECT_EQ(r.render(), "");
}

TEST(MetricsStageProbe, FailedConstructionRegistersNothing) {
  Registry r;
  r.gauge("sluice_stage_queue_depth", "Some other help.");  // help conflicts with the probe's
  CoreLikeStageStats s;
  EXPECT_THROW(StageProbe(r, "p", "x", readers_for(s)), std::invalid_argument);
  EXPECT_EQ(r.render(),
            "# HELP sluice_stage_queue_depth Some other help.\n"
            "# TYPE sluice_stage_queue_depth gauge\nsluice_stage_queue_depth 0\n");
  EXPECT_THROW(StageProbe(r, "", "x", readers_for(s)), std::invalid_argument);
}

}  // namespace
}  // namespace sluice::metrics
