// ProducerProbe: metrics of what sluice writes to Kafka (DESIGN.md §6).
//
//   sluice_records_produced_total{pipeline,topic}             acknowledged records (results and
//   dead letters) sluice_records_dead_lettered_total{pipeline,stage,code}
//   sluice_end_to_end_latency_seconds{pipeline}               input's Kafka timestamp -> result's
//   delivery report
//
// Threading: any thread. on_delivered runs on the producer's delivery-report
// thread and is lock-free once a topic's counter exists.
#pragma once
#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "src/core/topics.h"
#include "src/kafka/producer.h"
#include "src/metrics/registry.h"

namespace sluice::kafka {

class ProducerProbe final : public DeliveryObserver {
 public:
  // registry: null keeps the series in a private registry. Not owned.
  ProducerProbe(metrics::Registry* registry, std::string pipeline);

  void on_delivered(const Delivery& d) override;
  void on_dead_lettered(std::string_view stage, std::string_view code);

  const std::string& pipeline() const { return pipeline_; }
  uint64_t produced(core::TopicId topic);
  uint64_t dead_lettered(std::string_view stage, std::string_view code);
  uint64_t latency_count() const { return latency_.snapshot().count; }

 private:
  metrics::Counter& produced_counter(core::TopicId topic);
  metrics::Counter& dead_letter_counter(std::string_view stage, std::string_view code);

  std::unique_ptr<metrics::Registry> own_;
  metrics::Registry& registry_;
  std::string pipeline_;
  metrics::Histogram& latency_;
  static constexpr size_t kTopics = 1024;  // TopicIds cached lock-free below this
  std::array<std::atomic<metrics::Counter*>, kTopics> produced_{};
  std::mutex mu_;  // registry lookups
};

}  // namespace sluice::kafka
