// TransactionProbe: metrics of exactly-once delivery (DESIGN.md §2, §6). The
// transaction coordinator (src/kafka/transactions.h) calls on_x(); it never
// formats metric names.
//
//   sluice_transactions_total{pipeline,result}          committed / aborted transactions
//   sluice_transaction_records_total{pipeline,result}   input records whose offsets a committed
//                                                       transaction carried, or whose outputs an
//                                                       aborted one discarded (read again)
//   sluice_transaction_records{pipeline}                input records per committed transaction
//   sluice_transaction_commit_seconds{pipeline}         sending the offsets and committing
//
// Threading: one thread (the Kafka source's) reports; readers run anywhere.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "src/metrics/registry.h"

namespace sluice::kafka {

class TransactionProbe {
 public:
  // registry: null keeps the series in a private registry. Not owned.
  TransactionProbe(metrics::Registry* registry, std::string pipeline);

  void on_committed(uint64_t records, double seconds);
  void on_aborted(uint64_t records);

  uint64_t committed() const { return static_cast<uint64_t>(committed_.value()); }
  uint64_t aborted() const { return static_cast<uint64_t>(aborted_.value()); }
  uint64_t committed_records() const { return static_cast<uint64_t>(committed_records_.value()); }
  uint64_t aborted_records() const { return static_cast<uint64_t>(aborted_records_.value()); }

 private:
  std::unique_ptr<metrics::Registry> own_;
  metrics::Registry& registry_;
  std::string pipeline_;
  metrics::Counter& committed_;
  metrics::Counter& aborted_;
  metrics::Counter& committed_records_;
  metrics::Counter& aborted_records_;
  metrics::Histogram& records_;
  metrics::Histogram& commit_seconds_;
};

}  // namespace sluice::kafka
