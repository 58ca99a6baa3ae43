// ProducerProbe: metrics of what sluice writes to Kafka (DESIGN.md §6).
//
//   sluice_records_produced_total{pipeline,topic}          delivered (acknowledged) records
//   sluice_records_dead_lettered_total{pipeline,stage,code}
//   sluice_end_to_end_latency_seconds{pipeline}             input's Kafka timestamp -> delivery report
//
// Threading: every method may be called from any thread; on_delivered runs
// on the producer's delivery-report thread, lock-free.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "src/core/clock.h"
#include "src/core/topics.h"
#include "src/kafka/producer.h"

namespace sluice::kafka {

class ProducerProbe final : public DeliveryObserver {
 public:
  // Upper bounds (seconds) of the latency histogram's buckets.
  static constexpr std::array<double, 14> kLatencyBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                            0.25,  0.5,    1,     2.5,  5,     10,   30};

  explicit ProducerProbe(std::string pipeline) : pipeline_(std::move(pipeline)) {
    for (auto& c : produced_) c.store(0, std::memory_order_relaxed);
  }

  void on_delivered(const Delivery& d) override {
    if (d.topic >= 0 && static_cast<size_t>(d.topic) < kTopics) {
      produced_[d.topic].fetch_add(1, std::memory_order_relaxed);
    }
    if (d.kind == DeliveryKind::kResult && d.source_timestamp_ms >= 0) {
      double seconds = static_cast<double>(core::wall_ms() - d.source_timestamp_ms) / 1000.0;
      size_t b = 0;
      while (b < kLatencyBuckets.size() && seconds > kLatencyBuckets[b]) ++b;
      latency_buckets_[b].fetch_add(1, std::memory_order_relaxed);
      latency_count_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void on_dead_lettered(std::string_view stage, std::string_view code) {
    std::lock_guard lock(mu_);
    ++dead_lettered_[{std::string(stage), std::string(code)}];
  }

  const std::string& pipeline() const { return pipeline_; }
  uint64_t produced(core::TopicId topic) const {
    return topic >= 0 && static_cast<size_t>(topic) < kTopics ? produced_[topic].load(std::memory_order_relaxed) : 0;
  }
  uint64_t dead_lettered(std::string_view stage, std::string_view code) const {
    std::lock_guard lock(mu_);
    auto it = dead_lettered_.find({std::string(stage), std::string(code)});
    return it == dead_lettered_.end() ? 0 : it->second;
  }
  uint64_t latency_count() const { return latency_count_.load(std::memory_order_relaxed); }
  // Observations in bucket i (i == kLatencyBuckets.size(): above the last bound).
  uint64_t latency_bucket(size_t i) const { return latency_buckets_[i].load(std::memory_order_relaxed); }

 private:
  static constexpr size_t kTopics = 1024;
  std::string pipeline_;
  std::array<std::atomic<uint64_t>, kTopics> produced_;
  std::array<std::atomic<uint64_t>, kLatencyBuckets.size() + 1> latency_buckets_{};
  std::atomic<uint64_t> latency_count_{0};
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> dead_lettered_;
};

}  // namespace sluice::kafka
