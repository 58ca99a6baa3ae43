// SourceProbe: the Kafka source's metrics (DESIGN.md §6). The source calls
// on_x()/set_x(); it never formats metric names.
//
//   sluice_records_consumed_total{pipeline,topic,partition}
//   sluice_consumer_lag{pipeline,topic,partition}       high watermark - position
//   sluice_committed_offset{pipeline,topic,partition}   last offset the broker confirmed
//   sluice_source_paused{pipeline}                       1 while backpressure pauses the source
//   sluice_source_suspect_mode{pipeline}                 1 while records go one at a time (crash
//   marks) sluice_source_suspect_records_total{pipeline}        records handed on alone in suspect
//   mode sluice_source_poison_records_total{pipeline}         records dead-lettered as poison_crash
//
// Threading: partition() (a registry lookup under its lock) and the setters
// run on the source thread; updates are lock-free; readers run anywhere.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "src/metrics/registry.h"

namespace sluice::kafka {

class SourceProbe {
 public:
  // One partition's series; the address is stable for the probe's life (a
  // partition assigned again later continues its counters).
  class Partition {
   public:
    Partition(metrics::Registry& r, const std::string& pipeline, std::string topic,
              int32_t partition);
    void on_consumed() { consumed_.inc(); }
    void set_lag(int64_t lag) { lag_.set(static_cast<double>(lag)); }
    void set_committed(int64_t offset) { committed_.set(static_cast<double>(offset)); }

    const std::string& topic() const { return topic_; }
    int32_t partition() const { return partition_; }
    uint64_t consumed() const { return static_cast<uint64_t>(consumed_.value()); }
    int64_t lag() const { return static_cast<int64_t>(lag_.value()); }
    int64_t committed() const { return static_cast<int64_t>(committed_.value()); }

   private:
    std::string topic_;
    int32_t partition_;
    metrics::Counter& consumed_;
    metrics::Gauge& lag_;
    metrics::Gauge& committed_;
  };

  // registry: where the series live; null keeps them in a private registry
  // (tests, tools). Not owned; must outlive the probe.
  SourceProbe(metrics::Registry* registry, std::string pipeline);

  Partition* partition(std::string_view topic, int32_t partition);
  void set_paused(bool paused) { paused_.set(paused ? 1 : 0); }
  void set_suspect_mode(bool on) { suspect_mode_.set(on ? 1 : 0); }
  void on_suspect_record() { suspect_records_.inc(); }
  void on_poison_record() { poison_records_.inc(); }

  const std::string& pipeline() const { return pipeline_; }
  bool paused() const { return paused_.value() != 0; }
  bool suspect_mode() const { return suspect_mode_.value() != 0; }
  uint64_t suspect_records() const { return static_cast<uint64_t>(suspect_records_.value()); }
  uint64_t poison_records() const { return static_cast<uint64_t>(poison_records_.value()); }
  uint64_t consumed_total() const;
  template <typename F>
  void for_each_partition(F&& f) const {
    std::lock_guard lock(mu_);
    for (const auto& p : partitions_) f(p);
  }

 private:
  std::unique_ptr<metrics::Registry> own_;  // when no registry was given
  metrics::Registry& registry_;
  std::string pipeline_;
  metrics::Gauge& paused_;
  metrics::Gauge& suspect_mode_;
  metrics::Counter& suspect_records_;
  metrics::Counter& poison_records_;
  mutable std::mutex mu_;             // the deque's shape, not the values
  std::deque<Partition> partitions_;  // deque: stable addresses
};

}  // namespace sluice::kafka
