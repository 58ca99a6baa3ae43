#include "src/kafka/source_probe.h"

namespace sluice::kafka {

SourceProbe::Partition::Partition(metrics::Registry& r, const std::string& pipeline,
                                  std::string topic, int32_t partition)
    : topic_(std::move(topic)),
      partition_(partition),
      consumed_(r.counter(
          "sluice_records_consumed_total", "Records read from Kafka.",
          {{"pipeline", pipeline}, {"topic", topic_}, {"partition", std::to_string(partition)}})),
      lag_(r.gauge(
          "sluice_consumer_lag",
          "Records in the partition not yet read: high watermark minus position.",
          {{"pipeline", pipeline}, {"topic", topic_}, {"partition", std::to_string(partition)}})),
      commit_lag_(r.gauge(
          "sluice_consumer_commit_lag",
          "Records in the partition not yet committed: high watermark minus committed offset "
          "(unread, in flight, and done but not yet committed; what a restart would read).",
          {{"pipeline", pipeline}, {"topic", topic_}, {"partition", std::to_string(partition)}})),
      committed_(r.gauge(
          "sluice_committed_offset",
          "Last offset committed for the partition (the next record to read after a restart).",
          {{"pipeline", pipeline}, {"topic", topic_}, {"partition", std::to_string(partition)}})) {
  lag_.set(-1);
  commit_lag_.set(-1);
  committed_.set(-1);
}

SourceProbe::SourceProbe(metrics::Registry* registry, std::string pipeline)
    : registry_(metrics::registry_or_own(registry, own_)),
      pipeline_(std::move(pipeline)),
      paused_(registry_.gauge(
          "sluice_source_paused",
          "1 while the Kafka source pauses its partitions because too many records are in flight.",
          {{"pipeline", pipeline_}})),
      suspect_mode_(registry_.gauge(
          "sluice_source_suspect_mode",
          "1 while the Kafka source hands on one record at a time, marking each first: the "
          "records in flight when the process last died are replayed (crash-loop breaker).",
          {{"pipeline", pipeline_}})),
      suspect_records_(registry_.counter(
          "sluice_source_suspect_records_total",
          "Records handed on alone in suspect mode, so that a death identifies the record.",
          {{"pipeline", pipeline_}})),
      poison_records_(registry_.counter(
          "sluice_source_poison_records_total",
          "Records dead-lettered as poison_crash: in flight at two deaths of the process.",
          {{"pipeline", pipeline_}})),
      revoked_(
          registry_.counter("sluice_source_partitions_revoked_total",
                            "Partitions taken away by a group rebalance, after a final commit.",
                            {{"pipeline", pipeline_}})),
      lost_(registry_.counter("sluice_source_partitions_lost_total",
                              "Partitions lost by the group member (session expired, fenced): "
                              "taken away with no commit possible.",
                              {{"pipeline", pipeline_}})),
      rebalance_in_flight_(registry_.counter(
          "sluice_source_rebalance_in_flight_records_total",
          "Records in flight (outputs not all acknowledged) when their partition was revoked or "
          "lost: what its next owner must read again.",
          {{"pipeline", pipeline_}})),
      rebalance_uncommitted_(registry_.counter(
          "sluice_source_rebalance_uncommitted_records_total",
          "Records handed on and not committed when their partition was revoked or lost (at "
          "least those in flight): what its next owner reads again.",
          {{"pipeline", pipeline_}})),
      shed_(registry_.counter(
          "sluice_source_shed_records_total",
          "Records older than the latency objective dead-lettered (overload) instead of "
          "processed (overload policy shed).",
          {{"pipeline", pipeline_}})) {}

SourceProbe::Partition* SourceProbe::partition(std::string_view topic, int32_t partition) {
  std::lock_guard lock(mu_);
  for (auto& p : partitions_)
    if (p.partition() == partition && p.topic() == topic) return &p;
  return &partitions_.emplace_back(registry_, pipeline_, std::string(topic), partition);
}

uint64_t SourceProbe::consumed_total() const {
  std::lock_guard lock(mu_);
  uint64_t n = 0;
  for (const auto& p : partitions_) n += p.consumed();
  return n;
}

}  // namespace sluice::kafka
