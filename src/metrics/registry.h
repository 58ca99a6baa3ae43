// The metric registry: where sluice's components register their counters, gauges
// and histograms, exposed to Prometheus through prometheus-cpp: the registry is a
// prometheus::Collectable whose Collect() builds prometheus-cpp's data model
// (MetricFamily, ClientMetric) from the series' atomics at scrape time, and
// render() writes that with prometheus::TextSerializer (text format 0.0.4).
//
// Usage: a component looks its metrics up once at start-up (this takes a lock) and
// keeps the references; updating them afterwards is lock-free (src/metrics/metric.h).
// The values are sluice's own rather than prometheus-cpp's Counter and Histogram:
// those cost 2x (a compare-exchange loop on a double) and 2.3x (a mutex per
// observation) on the hot path (bench/metrics/metrics_bench.cpp).
//
//   auto& consumed = registry.counter("sluice_records_consumed_total",
//                                     "Records read from Kafka.", {{"pipeline", "sentiment"}});
//   consumed.inc();   // on every record
//
// Rules enforced at registration (violations throw std::invalid_argument naming the
// metric): metric names pass prometheus::CheckMetricName ([a-zA-Z_:][a-zA-Z0-9_:]*, not
// starting with "__"); counter names end in _total (Prometheus convention, checked by
// promtool); label names pass prometheus::CheckLabelName ([a-zA-Z_][a-zA-Z0-9_]*, not
// starting with "__"), are unique within a label set and are not "le" on histograms;
// help texts and label values are non-empty, valid UTF-8; a family's type, help text
// and histogram buckets are fixed by its first registration; a family's sample names
// (a histogram "x" owns x_bucket, x_sum and x_count) do not collide with another family's.
//
// Label order does not matter: {a, b} and {b, a} name the same series, which is
// exposed with labels sorted by name.
#pragma once
#include <prometheus/collectable.h>
#include <prometheus/labels.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "src/metrics/buckets.h"
#include "src/metrics/metric.h"

namespace sluice::metrics {

// Label name → value. Keep label values bounded (pipeline, stage, topic, partition):
// never a message key or anything else taken from record contents.
using Labels = std::vector<std::pair<std::string, std::string>>;

// Handle for a callback metric; CallbackId{} (zero) is never returned.
enum class CallbackId : std::uint64_t {};

struct RegistryOptions {
  // At most this many label sets per family (>= 1). See Registry for what happens beyond.
  std::size_t max_series_per_family = 1000;
};

// Value of every label in a family's overflow series.
inline constexpr std::string_view kOverflowLabelValue = "__overflow__";
// Counter of label sets that did not get their own series, labelled {family="<name>"}.
inline constexpr std::string_view kDroppedSeriesMetric = "sluice_metrics_dropped_series_total";

// Thread-safe. Metric objects live as long as the registry; references stay valid.
//
// Cardinality bound: once a family holds max_series_per_family label sets, a lookup
// with a new label set returns the family's overflow series instead: the same label
// names with every value set to "__overflow__" (created beyond the bound when first
// needed, so a family may hold one extra series per distinct label-name set). Each
// such lookup increments sluice_metrics_dropped_series_total{family="<name>"}.
// A callback metric beyond the bound is not registered at all (it cannot be folded
// into another value); the lookup is counted the same way and the returned id is
// valid for remove_callback, which then does nothing.
class Registry final : public prometheus::Collectable {
 public:
  explicit Registry(RegistryOptions options = {});
  ~Registry() override;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Same name and labels → same object.
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& histogram(std::string_view name, std::string_view help,
                       std::span<const double> buckets, const Labels& labels = {});

  // Values computed at scrape time (queue depth, consumer lag, GPU memory). The callback
  // runs on the HTTP server's thread during Collect(), under the registry's lock: it must
  // be thread-safe, cheap, must not throw, and must not call back into the registry.
  // Registering a name+labels that already exists throws std::invalid_argument.
  // A component that stops before the registry is destroyed must remove its callbacks;
  // once remove_callback() returns, the callback is not running and will never run again.
  CallbackId gauge_callback(std::string_view name, std::string_view help, const Labels& labels,
                            std::function<double()> fn);
  CallbackId counter_callback(std::string_view name, std::string_view help, const Labels& labels,
                              std::function<double()> fn);
  // Unknown or already removed ids are ignored, so removal is idempotent.
  void remove_callback(CallbackId id);

  // Every family with at least one series, sorted by name, its series sorted by label
  // set; histograms with cumulative buckets, the last one +Inf. Thread-safe. Throws
  // std::runtime_error naming the series if a callback throws (the HTTP server turns
  // that into a 500).
  std::vector<prometheus::MetricFamily> Collect() const override;
  // Collect() in the Prometheus text format 0.0.4 (prometheus::TextSerializer): HELP and
  // TYPE once per family; a histogram as _count, _sum and its _bucket{le=...} series.
  std::string render() const;

  std::size_t max_series_per_family() const noexcept { return options_.max_series_per_family; }

 private:
  struct Family;
  struct Series;
  using SeriesKey = prometheus::Labels;  // sorted by name
  using Type = prometheus::MetricType;

  Family& family_locked(std::string_view name, std::string_view help, Type type,
                        std::span<const double> buckets);
  // Returns the series for `labels` (validated, sorted), creating it if the bound allows,
  // else the overflow series; nullptr only for callbacks beyond the bound.
  Series* series_locked(Family& family, const Labels& labels, bool for_callback);
  void count_dropped_locked(const Family& family);
  CallbackId add_callback(Type type, std::string_view name, std::string_view help,
                          const Labels& labels, std::function<double()> fn);

  RegistryOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
  std::map<std::string, std::string, std::less<>> sample_owner_;  // sample name → family name
  struct CallbackLocation {
    Family* family;
    SeriesKey labels;
  };
  std::unordered_map<std::uint64_t, CallbackLocation> callbacks_;
  std::uint64_t next_callback_id_ = 1;
};

// For probes that work with or without a pipeline's registry: `given`, or a
// private registry created into `own` (its values are kept but never exposed).
inline Registry& registry_or_own(Registry* given, std::unique_ptr<Registry>& own) {
  if (given) return *given;
  own = std::make_unique<Registry>();
  return *own;
}

}  // namespace sluice::metrics
