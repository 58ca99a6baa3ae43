#include "src/metrics/registry.h"

#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <string>

#include "src/metrics/build_info.h"

namespace sluice::metrics {
namespace {

// Runs `fn`, expects std::invalid_argument with exactly `message`.
template <class Fn>
void expect_invalid(Fn fn, const std::string& message) {
  try {
    fn();
    ADD_FAILURE() << "no exception, expected: " << message;
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(e.what(), message);
  }
}

TEST(MetricsRegistry, RendersCounterAndGaugeWithHelpAndTypeOnce) {
  Registry r;
  r.counter("sluice_records_total", "Records seen.").inc(3);
  r.gauge("sluice_budget_tokens", "Token budget.").set(2048);
  r.gauge("sluice_budget_tokens", "Token budget.").add(-48);
  EXPECT_EQ(r.render(),
            "# HELP sluice_budget_tokens Token budget.\n"
            "# TYPE sluice_budget_tokens gauge\n"
            "sluice_budget_tokens 2000\n"
            "# HELP sluice_records_total Records seen.\n"
            "# TYPE sluice_records_total counter\n"
            "sluice_records_total 3\n");
}

TEST(MetricsRegistry, RendersLabelsSortedByNameAndSeriesSortedByValue) {
  Registry r;
  r.counter("x_total", "X.", {{"stage", "tokenize"}, {"pipeline", "p"}}).inc();
  r.counter("x_total", "X.", {{"pipeline", "p"}, {"stage", "infer"}}).inc(2);
  r.counter("x_total", "X.", {{"pipeline", "a"}, {"stage", "z"}}).inc(0.5);
  EXPECT_EQ(r.render(),
            "# HELP x_total X.\n"
            "# TYPE x_total counter\n"
            "x_total{pipeline=\"a\",stage=\"z\"} 0.5\n"
            "x_total{pipeline=\"p\",stage=\"infer\"} 2\n"
            "x_total{pipeline=\"p\",stage=\"tokenize\"} 1\n");
}

TEST(MetricsRegistry, SameNameAndLabelsInAnyOrderIsTheSameObject) {
  Registry r;
  Counter& a = r.counter("x_total", "X.", {{"a", "1"}, {"b", "2"}});
  Counter& b = r.counter("x_total", "X.", {{"b", "2"}, {"a", "1"}});
  Counter& c = r.counter("x_total", "X.", {{"a", "1"}, {"b", "3"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
  Histogram& h1 = r.histogram("h", "H.", latency_seconds_buckets(), {{"s", "x"}});
  Histogram& h2 = r.histogram("h", "H.", latency_seconds_buckets(), {{"s", "x"}});
  EXPECT_EQ(&h1, &h2);
}

TEST(MetricsRegistry, EscapesLabelValuesAndHelp) {
  Registry r;
  r.gauge("g", "Help with \\ and\nnewline and \"quotes\".", {{"path", "C:\\dir \"x\"\nnext"}})
      .set(1);
  EXPECT_EQ(r.render(),
            "# HELP g Help with \\\\ and\\nnewline and \"quotes\".\n"
            "# TYPE g gauge\n"
            "g{path=\"C:\\\\dir \\\"x\\\"\\nnext\"} 1\n");
}

TEST(MetricsRegistry, RendersSpecialFloats) {
  Registry r;
  r.gauge("g", "G.", {{"v", "inf"}}).set(std::numeric_limits<double>::infinity());
  r.gauge("g", "G.", {{"v", "minus_inf"}}).set(-std::numeric_limits<double>::infinity());
  r.gauge("g", "G.", {{"v", "nan"}}).set(std::numeric_limits<double>::quiet_NaN());
  r.gauge("g", "G.", {{"v", "tiny"}}).set(1e-300);
  EXPECT_EQ(r.render(),
            "# HELP g G.\n"
            "# TYPE g gauge\n"
            "g{v=\"inf\"} +Inf\n"
            "g{v=\"minus_inf\"} -Inf\n"
            "g{v=\"nan\"} Nan\n"
            "g{v=\"tiny\"} 1e-300\n");
}

TEST(MetricsRegistry, RendersHistogramWithCumulativeBucketsSumAndCount) {
  Registry r;
  const double bounds[] = {0.25, 0.5, 1};
  Histogram& h = r.histogram("sluice_batch_seconds", "Batch time.", bounds, {{"stage", "infer"}});
  for (double v : {0.125, 0.25, 0.75, 3.0}) h.observe(v);
  r.histogram("sluice_batch_seconds", "Batch time.", bounds);  // unlabelled series, empty
  EXPECT_EQ(r.render(),
            "# HELP sluice_batch_seconds Batch time.\n"
            "# TYPE sluice_batch_seconds histogram\n"
            "sluice_batch_seconds_count 0\n"
            "sluice_batch_seconds_sum 0\n"
            "sluice_batch_seconds_bucket{le=\"0.25\"} 0\n"
            "sluice_batch_seconds_bucket{le=\"0.5\"} 0\n"
            "sluice_batch_seconds_bucket{le=\"1\"} 0\n"
            "sluice_batch_seconds_bucket{le=\"+Inf\"} 0\n"
            "sluice_batch_seconds_count{stage=\"infer\"} 4\n"
            "sluice_batch_seconds_sum{stage=\"infer\"} 4.125\n"
            "sluice_batch_seconds_bucket{stage=\"infer\",le=\"0.25\"} 2\n"
            "sluice_batch_seconds_bucket{stage=\"infer\",le=\"0.5\"} 2\n"
            "sluice_batch_seconds_bucket{stage=\"infer\",le=\"1\"} 3\n"
            "sluice_batch_seconds_bucket{stage=\"infer\",le=\"+Inf\"} 4\n");
}

TEST(MetricsRegistry, RejectsInvalidNamesAndLabels) {
  Registry r;
  expect_invalid([&] { r.gauge("9lives", "H."); },
                 "metric '9lives': invalid metric name (must match [a-zA-Z_:][a-zA-Z0-9_:]*)");
  expect_invalid([&] { r.gauge("a-b", "H."); },
                 "metric 'a-b': invalid metric name (must match [a-zA-Z_:][a-zA-Z0-9_:]*)");
  expect_invalid([&] { r.counter("records", "H."); },
                 "metric 'records': counter names must end in _total (Prometheus naming "
                 "convention)");
  expect_invalid([&] { r.gauge("g", ""); }, "metric 'g': help text must not be empty");
  expect_invalid([&] { r.gauge("g", "bad \xFF"); }, "metric 'g': help text is not valid UTF-8");
  expect_invalid(
      [&] {
        r.gauge("g", "G.", {{"__name__", "x"}});
      },
      "metric 'g': invalid label name '__name__' (must match [a-zA-Z_][a-zA-Z0-9_]* "
      "and not start with __)");
  expect_invalid(
      [&] {
        r.gauge("g", "G.", {{"a:b", "x"}});
      },
      "metric 'g': invalid label name 'a:b' (must match [a-zA-Z_][a-zA-Z0-9_]* and "
      "not start with __)");
  expect_invalid(
      [&] {
        r.gauge("g", "G.", {{"a", "x"}, {"a", "y"}});
      },
      "metric 'g': label 'a' given twice");
  expect_invalid(
      [&] {
        r.gauge("g", "G.", {{"a", ""}});
      },
      "metric 'g': label 'a' has an empty value");
  expect_invalid(
      [&] {
        r.gauge("g", "G.", {{"a", "\xC0\xAF"}});
      },
      "metric 'g': value of label 'a' is not valid UTF-8");
  expect_invalid(
      [&] {
        r.histogram("h", "H.", latency_seconds_buckets(), {{"le", "1"}});
      },
      "metric 'h': label name 'le' is reserved for histogram buckets");
  // 'le' is an ordinary label on a gauge, and nothing above registered a series.
  r.gauge("g", "G.", {{"le", "1"}}).set(1);
  EXPECT_EQ(r.render(), "# HELP g G.\n# TYPE g gauge\ng{le=\"1\"} 1\n");
}

TEST(MetricsRegistry, FamilyTypeHelpAndBucketsAreFixedAtFirstUse) {
  Registry r;
  r.counter("x_total", "X.");
  expect_invalid([&] { r.gauge("x_total", "X."); },
                 "metric 'x_total': already registered as a counter, not a gauge");
  expect_invalid([&] { r.counter("x_total", "Other."); },
                 "metric 'x_total': help text differs from its first registration (\"X.\")");
  const double b1[] = {1, 2};
  const double b2[] = {1, 3};
  r.histogram("h", "H.", b1);
  expect_invalid([&] { r.histogram("h", "H.", b2); },
                 "metric 'h': buckets differ from its first registration");
  const double b1_inf[] = {1, 2, std::numeric_limits<double>::infinity()};
  EXPECT_EQ(&r.histogram("h", "H.", b1_inf), &r.histogram("h", "H.", b1));
}

TEST(MetricsRegistry, RejectsNamesCollidingWithHistogramSeries) {
  Registry r;
  r.histogram("lat", "L.", latency_seconds_buckets());
  expect_invalid([&] { r.gauge("lat_count", "C."); },
                 "metric 'lat_count': name collides with series 'lat_count' of metric 'lat'");
  r.gauge("size_sum", "S.");
  expect_invalid([&] { r.histogram("size", "S.", latency_seconds_buckets()); },
                 "metric 'size': name collides with series 'size_sum' of metric 'size_sum'");
}

TEST(MetricsRegistry, FoldsLabelSetsBeyondTheBoundIntoAnOverflowSeries) {
  Registry r(RegistryOptions{.max_series_per_family = 2});
  Counter& a = r.counter("x_total", "X.", {{"key", "a"}});
  Counter& b = r.counter("x_total", "X.", {{"key", "b"}});
  Counter& c = r.counter("x_total", "X.", {{"key", "c"}});
  Counter& d = r.counter("x_total", "X.", {{"key", "d"}});
  EXPECT_NE(&a, &b);
  EXPECT_EQ(&c, &d);
  EXPECT_NE(&c, &a);
  EXPECT_EQ(&r.counter("x_total", "X.", {{"key", "a"}}), &a);  // existing sets still found
  a.inc();
  c.inc(5);
  EXPECT_EQ(r.render(),
            "# HELP sluice_metrics_dropped_series_total Label sets that did not get their own "
            "series because their family reached max_series_per_family (folded into the "
            "family's __overflow__ series).\n"
            "# TYPE sluice_metrics_dropped_series_total counter\n"
            "sluice_metrics_dropped_series_total{family=\"x_total\"} 2\n"
            "# HELP x_total X.\n"
            "# TYPE x_total counter\n"
            "x_total{key=\"__overflow__\"} 5\n"
            "x_total{key=\"a\"} 1\n"
            "x_total{key=\"b\"} 0\n");
  EXPECT_THROW(Registry(RegistryOptions{.max_series_per_family = 0}), std::invalid_argument);
}

TEST(MetricsRegistry, RendersCallbacksAtScrapeTimeUntilRemoved) {
  Registry r;
  double depth = 7;
  const CallbackId id =
      r.gauge_callback("q_depth", "Depth.", {{"stage", "s"}}, [&] { return depth; });
  const CallbackId id2 = r.counter_callback("lag_total", "Lag.", {}, [] { return 12.0; });
  EXPECT_NE(id, id2);
  EXPECT_NE(id, CallbackId{});
  const std::string both =
      "# HELP lag_total Lag.\n# TYPE lag_total counter\nlag_total 12\n"
      "# HELP q_depth Depth.\n# TYPE q_depth gauge\nq_depth{stage=\"s\"} 7\n";
  EXPECT_EQ(r.render(), both);
  depth = 9;
  EXPECT_NE(r.render().find("q_depth{stage=\"s\"} 9\n"), std::string::npos);

  r.remove_callback(id);
  EXPECT_EQ(r.render(), "# HELP lag_total Lag.\n# TYPE lag_total counter\nlag_total 12\n");
  r.remove_callback(id);            // idempotent
  r.remove_callback(CallbackId{});  // unknown: ignored
  // The freed label set can be registered again.
  r.gauge_callback("q_depth", "Depth.", {{"stage", "s"}}, [] { return 1.0; });
  EXPECT_NE(r.render().find("q_depth{stage=\"s\"} 1\n"), std::string::npos);
}

TEST(MetricsRegistry, RejectsDuplicateAndMismatchedCallbacks) {
  Registry r;
  r.gauge_callback("q", "Q.", {{"s", "a"}}, [] { return 1.0; });
  expect_invalid(
      [&] {
        r.gauge_callback("q", "Q.", {{"s", "a"}}, [] { return 2.0; });
      },
      "metric 'q': q{s=\"a\"} is already registered");
  expect_invalid(
      [&] {
        r.gauge("q", "Q.", {{"s", "a"}});
      },
      "metric 'q': q{s=\"a\"} is already a callback metric");
  expect_invalid([&] { r.counter_callback("q_total", "Q.", {}, nullptr); },
                 "metric 'q_total': callback is empty");
  expect_invalid([&] { r.counter_callback("lag", "L.", {}, [] { return 1.0; }); },
                 "metric 'lag': counter names must end in _total (Prometheus naming convention)");
  // A plain gauge and callbacks may share a family with distinct label sets.
  r.gauge("q", "Q.", {{"s", "b"}}).set(2);
  EXPECT_EQ(r.render(), "# HELP q Q.\n# TYPE q gauge\nq{s=\"a\"} 1\nq{s=\"b\"} 2\n");
}

TEST(MetricsRegistry, CallbacksBeyondTheBoundAreCountedNotRendered) {
  Registry r(RegistryOptions{.max_series_per_family = 1});
  r.gauge_callback("q", "Q.", {{"p", "0"}}, [] { return 1.0; });
  const CallbackId dropped = r.gauge_callback("q", "Q.", {{"p", "1"}}, [] { return 2.0; });
  EXPECT_NE(dropped, CallbackId{});
  r.remove_callback(dropped);  // accepted, does nothing
  EXPECT_EQ(r.render(),
            "# HELP q Q.\n# TYPE q gauge\nq{p=\"0\"} 1\n"
            "# HELP sluice_metrics_dropped_series_total Label sets that did not get their own "
            "series because their family reached max_series_per_family (folded into the "
            "family's __overflow__ series).\n"
            "# TYPE sluice_metrics_dropped_series_total counter\n"
            "sluice_metrics_dropped_series_total{family=\"q\"} 1\n");
}

TEST(MetricsRegistry, ThrowingCallbackFailsTheRenderNamingTheSeries) {
  Registry r;
  r.gauge_callback("gpu_bytes", "GPU.", {{"device", "0"}},
                   []() -> double { throw std::runtime_error("driver gone"); });
  try {
    (void)r.render();
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "metric 'gpu_bytes{device=\"0\"}': callback threw: driver gone");
  }
}

TEST(MetricsRegistry, EmptyRegistryRendersNothing) {
  Registry r;
  EXPECT_EQ(r.render(), "");
}

TEST(MetricsBuildInfo, IsAGaugeOfOneLabelledWithTheBuild) {
  Registry r;
  register_build_info(r, "0.1.0", "cuda: not built", "abc123");
  EXPECT_EQ(r.render(),
            "# HELP sluice_build_info Build of the running sluice: version, git commit and CUDA "
            "support (value is 1).\n"
            "# TYPE sluice_build_info gauge\n"
            "sluice_build_info{cuda=\"cuda: not built\",git_sha=\"abc123\",version=\"0.1.0\"} 1\n");
  Registry r2;
  register_build_info(r2, "0.1.0", "cuda: runtime 13.0, 1 device(s): H200");
  EXPECT_NE(r2.render().find("sluice_build_info{cuda=\"cuda: runtime 13.0, 1 device(s): "
                             "H200\",version=\"0.1.0\"} 1\n"),
            std::string::npos);
  expect_invalid([&] { register_build_info(r2, "", "x"); },
                 "metric 'sluice_build_info': label 'version' has an empty value");
}

}  // namespace
}  // namespace sluice::metrics
