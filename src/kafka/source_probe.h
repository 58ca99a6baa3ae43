// SourceProbe: the Kafka source's metrics (DESIGN.md §6). The source calls
// on_x()/set_x(); it never formats metric names.
//
//   sluice_records_consumed_total{pipeline,topic,partition}
//   sluice_consumer_lag{pipeline,topic,partition}       high watermark - position (unread)
//   sluice_consumer_commit_lag{pipeline,topic,partition} high watermark - committed offset
//                                                       (unread + in flight + done, not committed)
//   sluice_committed_offset{pipeline,topic,partition}   last offset the broker confirmed
//   sluice_source_partitions_revoked_total{pipeline}     taken away by a rebalance (after a commit)
//   sluice_source_partitions_lost_total{pipeline}        lost (session expired, fenced): no commit
//   sluice_source_rebalance_in_flight_records_total{pipeline}  records in flight (outputs not
//                                                       all acknowledged) when their partition
//                                                       went: what its next owner must read again
//   sluice_source_rebalance_uncommitted_records_total{pipeline}  handed on and not committed when
//                                                       their partition went (>= in flight): what
//                                                       its next owner reads again
//   sluice_source_shed_records_total{pipeline}           overload policy shed: dead-lettered
//                                                       (overload) instead of processed
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
    void set_commit_lag(int64_t lag) { commit_lag_.set(static_cast<double>(lag)); }
    void set_committed(int64_t offset) { committed_.set(static_cast<double>(offset)); }

    const std::string& topic() const { return topic_; }
    int32_t partition() const { return partition_; }
    uint64_t consumed() const { return static_cast<uint64_t>(consumed_.value()); }
    int64_t lag() const { return static_cast<int64_t>(lag_.value()); }
    int64_t commit_lag() const { return static_cast<int64_t>(commit_lag_.value()); }
    int64_t committed() const { return static_cast<int64_t>(committed_.value()); }

   private:
    std::string topic_;
    int32_t partition_;
    metrics::Counter& consumed_;
    metrics::Gauge& lag_;
    metrics::Gauge& commit_lag_;
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
  // A partition taken away with `in_flight` records whose outputs were not all
  // acknowledged, and `uncommitted` records handed on and not committed.
  void on_partition_revoked(uint64_t in_flight, uint64_t uncommitted) {
    revoked_.inc();
    rebalance_in_flight_.inc(static_cast<double>(in_flight));
    rebalance_uncommitted_.inc(static_cast<double>(uncommitted));
  }
  void on_partition_lost(uint64_t in_flight, uint64_t uncommitted) {
    lost_.inc();
    rebalance_in_flight_.inc(static_cast<double>(in_flight));
    rebalance_uncommitted_.inc(static_cast<double>(uncommitted));
  }
  void on_shed_record() { shed_.inc(); }

  const std::string& pipeline() const { return pipeline_; }
  bool paused() const { return paused_.value() != 0; }
  bool suspect_mode() const { return suspect_mode_.value() != 0; }
  uint64_t suspect_records() const { return static_cast<uint64_t>(suspect_records_.value()); }
  uint64_t poison_records() const { return static_cast<uint64_t>(poison_records_.value()); }
  uint64_t partitions_revoked() const { return static_cast<uint64_t>(revoked_.value()); }
  uint64_t partitions_lost() const { return static_cast<uint64_t>(lost_.value()); }
  uint64_t rebalance_in_flight() const {
    return static_cast<uint64_t>(rebalance_in_flight_.value());
  }
  uint64_t rebalance_uncommitted() const {
    return static_cast<uint64_t>(rebalance_uncommitted_.value());
  }
  uint64_t shed_records() const { return static_cast<uint64_t>(shed_.value()); }
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
  metrics::Counter& revoked_;
  metrics::Counter& lost_;
  metrics::Counter& rebalance_in_flight_;
  metrics::Counter& rebalance_uncommitted_;
  metrics::Counter& shed_;
  mutable std::mutex mu_;             // the deque's shape, not the values
  std::deque<Partition> partitions_;  // deque: stable addresses
};

}  // namespace sluice::kafka
