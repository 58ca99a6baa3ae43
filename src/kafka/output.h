// Output: a pipeline's Kafka output — one idempotent Producer shared by the
// Kafka sink (results) and the dead-letter sink (and whatever else produces:
// the state store's changelog), with its metrics probe. Under exactly_once
// the producer is transactional and the Output owns its Transactions, which
// the Kafka source commits: whatever is produced through this Output is in
// the source's transactions.
//
// The producer is created by start() (at pipeline start, not when the
// pipeline is built, so `sluice validate` connects to nothing). Whoever
// starts first (the sink, or the source when it has dead letters to publish)
// creates it; close() is idempotent and joins the delivery-report thread, so
// after it no Ack completes any more.
//
// Threading: every method may be called from any thread.
#pragma once
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "src/kafka/producer.h"
#include "src/kafka/producer_probe.h"
#include "src/kafka/transactions.h"

namespace sluice::kafka {

class Output {
 public:
  // registry: where the probe's series live (null: a private registry). Not owned.
  // transaction_timeout: the longest one transactional call may take.
  Output(ProducerConfig config, metrics::Registry* registry, std::string pipeline,
         std::chrono::milliseconds transaction_timeout = std::chrono::seconds(60));
  ~Output();
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  // Creates the producer on the first call (transactional: also
  // init_transactions and the first transaction). Throws KafkaError.
  Producer& start();
  // The transactions of a transactional producer, once started; else null.
  Transactions* transactions() const { return transactions_.get(); }
  // Null before start().
  Producer* producer() const { return producer_.load(std::memory_order_acquire); }
  ProducerProbe& probe() { return probe_; }

  // Waits for outstanding deliveries; true if none is left (or not started).
  bool flush(std::chrono::milliseconds timeout);
  void close();

 private:
  ProducerConfig config_;
  std::chrono::milliseconds transaction_timeout_;
  ProducerProbe probe_;
  TransactionProbe transaction_probe_;
  std::mutex mu_;
  std::unique_ptr<Producer> owned_;
  std::unique_ptr<Transactions> transactions_;
  std::atomic<Producer*> producer_{nullptr};
};

}  // namespace sluice::kafka
