#include "src/kafka/transaction_probe.h"

#include "src/metrics/buckets.h"

namespace sluice::kafka {

TransactionProbe::TransactionProbe(metrics::Registry* registry, std::string pipeline)
    : registry_(metrics::registry_or_own(registry, own_)),
      pipeline_(std::move(pipeline)),
      committed_(registry_.counter("sluice_transactions_total",
                                   "Kafka transactions (exactly_once), by result.",
                                   {{"pipeline", pipeline_}, {"result", "committed"}})),
      aborted_(registry_.counter("sluice_transactions_total",
                                 "Kafka transactions (exactly_once), by result.",
                                 {{"pipeline", pipeline_}, {"result", "aborted"}})),
      committed_records_(registry_.counter(
          "sluice_transaction_records_total",
          "Input records in Kafka transactions, by result: committed (offsets and outputs "
          "together), or aborted (outputs discarded, records read again).",
          {{"pipeline", pipeline_}, {"result", "committed"}})),
      aborted_records_(registry_.counter(
          "sluice_transaction_records_total",
          "Input records in Kafka transactions, by result: committed (offsets and outputs "
          "together), or aborted (outputs discarded, records read again).",
          {{"pipeline", pipeline_}, {"result", "aborted"}})),
      records_(registry_.histogram(
          "sluice_transaction_records", "Input records per committed Kafka transaction.",
          metrics::exponential_buckets(1, 4, 12), {{"pipeline", pipeline_}})),
      commit_seconds_(registry_.histogram(
          "sluice_transaction_commit_seconds",
          "Time to commit a Kafka transaction: sending the input offsets, flushing its records "
          "and ending it.",
          metrics::latency_seconds_buckets(), {{"pipeline", pipeline_}})) {}

void TransactionProbe::on_committed(uint64_t records, double seconds) {
  committed_.inc();
  committed_records_.inc(static_cast<double>(records));
  records_.observe(static_cast<double>(records));
  commit_seconds_.observe(seconds);
}

void TransactionProbe::on_aborted(uint64_t records) {
  aborted_.inc();
  aborted_records_.inc(static_cast<double>(records));
}

}  // namespace sluice::kafka
