// Output: a pipeline's Kafka output — one idempotent Producer shared by the
// Kafka sink (results) and the dead-letter sink, with its metrics probe.
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

namespace sluice::kafka {

class Output {
 public:
  // registry: where the probe's series live (null: a private registry). Not owned.
  Output(ProducerConfig config, metrics::Registry* registry, std::string pipeline);
  ~Output();
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  // Creates the producer on the first call. Throws KafkaError on bad settings.
  Producer& start();
  // Null before start().
  Producer* producer() const { return producer_.load(std::memory_order_acquire); }
  ProducerProbe& probe() { return probe_; }

  // Waits for outstanding deliveries; true if none is left (or not started).
  bool flush(std::chrono::milliseconds timeout);
  void close();

 private:
  ProducerConfig config_;
  ProducerProbe probe_;
  std::mutex mu_;
  std::unique_ptr<Producer> owned_;
  std::atomic<Producer*> producer_{nullptr};
};

}  // namespace sluice::kafka
