// SourceProbe: the Kafka source's metrics (DESIGN.md §6). The source calls
// on_x()/set_x(); it never formats metric names.
//
//   sluice_records_consumed_total{pipeline,topic,partition}
//   sluice_consumer_lag{pipeline,topic,partition}       high watermark - position
//   sluice_committed_offset{pipeline,topic,partition}
//   sluice_source_paused{pipeline}                       1 while backpressure pauses the source
//
// Threading: partition() and the setters run on the source thread; the
// counters are relaxed atomics, readable from any thread.
#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>

namespace sluice::kafka {

class SourceProbe {
 public:
  // One assigned partition's series. Addresses are stable for the probe's
  // life (a partition re-assigned later continues its counters).
  class Partition {
   public:
    Partition(std::string topic, int32_t partition) : topic_(std::move(topic)), partition_(partition) {}
    void on_consumed() { consumed_.fetch_add(1, std::memory_order_relaxed); }
    void set_lag(int64_t lag) { lag_.store(lag, std::memory_order_relaxed); }
    void set_committed(int64_t offset) { committed_.store(offset, std::memory_order_relaxed); }

    const std::string& topic() const { return topic_; }
    int32_t partition() const { return partition_; }
    uint64_t consumed() const { return consumed_.load(std::memory_order_relaxed); }
    int64_t lag() const { return lag_.load(std::memory_order_relaxed); }
    int64_t committed() const { return committed_.load(std::memory_order_relaxed); }

   private:
    friend class SourceProbe;
    std::string topic_;
    int32_t partition_;
    std::atomic<uint64_t> consumed_{0};
    std::atomic<int64_t> lag_{-1};
    std::atomic<int64_t> committed_{-1};
  };

  explicit SourceProbe(std::string pipeline) : pipeline_(std::move(pipeline)) {}

  Partition* partition(std::string_view topic, int32_t partition) {
    std::lock_guard lock(mu_);
    for (auto& p : partitions_)
      if (p.partition_ == partition && p.topic_ == topic) return &p;
    return &partitions_.emplace_back(std::string(topic), partition);
  }
  void set_paused(bool paused) { paused_.store(paused, std::memory_order_relaxed); }

  const std::string& pipeline() const { return pipeline_; }
  bool paused() const { return paused_.load(std::memory_order_relaxed); }
  uint64_t consumed_total() const {
    std::lock_guard lock(mu_);
    uint64_t n = 0;
    for (const auto& p : partitions_) n += p.consumed();
    return n;
  }
  // Visits every partition series (any thread).
  template <typename F>
  void for_each_partition(F&& f) const {
    std::lock_guard lock(mu_);
    for (const auto& p : partitions_) f(p);
  }

 private:
  std::string pipeline_;
  mutable std::mutex mu_;              // guards the deque's shape, not the counters
  std::deque<Partition> partitions_;  // deque: stable addresses
  std::atomic<bool> paused_{false};
};

}  // namespace sluice::kafka
