#include "src/kafka/producer_probe.h"

#include "src/core/clock.h"
#include "src/metrics/buckets.h"

namespace sluice::kafka {

ProducerProbe::ProducerProbe(metrics::Registry* registry, std::string pipeline)
    : registry_(metrics::registry_or_own(registry, own_)),
      pipeline_(std::move(pipeline)),
      latency_(registry_.histogram(
          "sluice_end_to_end_latency_seconds",
          "From the input record's Kafka timestamp to its result's delivery report.",
          metrics::latency_seconds_buckets(), {{"pipeline", pipeline_}})) {}

metrics::Counter& ProducerProbe::produced_counter(core::TopicId topic) {
  if (topic >= 0 && static_cast<size_t>(topic) < kTopics) {
    if (metrics::Counter* c = produced_[topic].load(std::memory_order_acquire)) return *c;
  }
  std::lock_guard lock(mu_);
  metrics::Counter& c = registry_.counter(
      "sluice_records_produced_total", "Records delivered to Kafka (acknowledged).",
      {{"pipeline", pipeline_}, {"topic", std::string(core::topic_name(topic))}});
  if (topic >= 0 && static_cast<size_t>(topic) < kTopics)
    produced_[topic].store(&c, std::memory_order_release);
  return c;
}

metrics::Counter& ProducerProbe::dead_letter_counter(std::string_view stage,
                                                     std::string_view code) {
  std::lock_guard lock(mu_);
  return registry_.counter(
      "sluice_records_dead_lettered_total", "Records sent to the dead-letter topic.",
      {{"pipeline", pipeline_}, {"stage", std::string(stage)}, {"code", std::string(code)}});
}

void ProducerProbe::on_delivered(const Delivery& d) {
  if (d.topic != core::kNoTopic) produced_counter(d.topic).inc();
  if (d.kind == DeliveryKind::kResult && d.source_timestamp_ms >= 0) {
    latency_.observe(static_cast<double>(core::wall_ms() - d.source_timestamp_ms) / 1000.0);
  }
}

void ProducerProbe::on_dead_lettered(std::string_view stage, std::string_view code) {
  dead_letter_counter(stage, code).inc();
}

uint64_t ProducerProbe::produced(core::TopicId topic) {
  return static_cast<uint64_t>(produced_counter(topic).value());
}

uint64_t ProducerProbe::dead_lettered(std::string_view stage, std::string_view code) {
  return static_cast<uint64_t>(dead_letter_counter(stage, code).value());
}

}  // namespace sluice::kafka
