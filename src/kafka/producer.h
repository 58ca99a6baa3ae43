// Producer: RAII over an idempotent librdkafka producer, shared by the Kafka
// sink (results) and the dead-letter sink, with its own delivery-report thread.
//
// Why a thread of its own: delivery reports must be served while the sink's
// worker is parked (no input) and for dead letters published from any stage,
// and their latency must not depend on a stage's schedule. The thread only
// runs rd_kafka_poll(); report handling is a CAS on the OffsetTracker and a
// metrics update.
//
// A message's Ack is completed by its delivery report, only on success. A
// failed delivery (librdkafka has retried until message.timeout.ms, or the
// idempotent producer hit a fatal error) marks the producer failed; the sink
// then stops the pipeline, and the record is never committed.
//
//
// Threading: send/flush/outstanding/failed may be called from any thread.
// close() once, after the senders have stopped.
#pragma once
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include "src/core/topics.h"
#include "src/kafka/conf.h"
#include "src/kafka/delivery.h"

namespace sluice::kafka {

struct ProducerConfig {
  std::string bootstrap_servers;
  // Passed through to librdkafka after sluice's defaults; enable.idempotence
  // must stay true.
  Properties properties;
  // Where the settings above were configured, by librdkafka name (for messages).
  PropertySources sources;
};

// The producer's librdkafka configuration, exactly as the Producer uses it
// (without its callbacks). Connects to nothing: `sluice validate` builds it
// to report what librdkafka rejects. Throws PropertyError.
Conf producer_conf(const ProducerConfig& config);

// Hears about every successful delivery (the producer's metrics probe).
// Called on the delivery-report thread.
class DeliveryObserver {
 public:
  virtual ~DeliveryObserver() = default;
  virtual void on_delivered(const Delivery& delivery) = 0;
};

// Message headers under construction; handed to librdkafka on send.
class Headers {
 public:
  Headers() = default;
  ~Headers() {
    if (h_) rd_kafka_headers_destroy(h_);
  }
  Headers(Headers&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Headers& operator=(Headers&& o) noexcept {
    std::swap(h_, o.h_);
    return *this;
  }
  Headers(const Headers&) = delete;
  Headers& operator=(const Headers&) = delete;

  void add(std::string_view name, std::string_view value) {
    if (!h_) h_ = rd_kafka_headers_new(8);
    rd_kafka_header_add(h_, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                        static_cast<ssize_t>(value.size()));
  }
  bool empty() const { return !h_; }
  rd_kafka_headers_t* get() const { return h_; }
  rd_kafka_headers_t* release() { return std::exchange(h_, nullptr); }

 private:
  rd_kafka_headers_t* h_ = nullptr;
};

struct OutMessage {
  core::TopicId topic = core::kNoTopic;
  std::optional<std::string_view> key;  // nullopt: no key
  std::string_view value;               // copied by librdkafka
  Headers headers;
  Delivery delivery;  // its Ack completes on successful delivery
};

class Producer {
 public:
  // Creates the client and starts the delivery-report thread. Throws
  // KafkaError on bad configuration.
  explicit Producer(const ProducerConfig& config, DeliveryObserver* observer = nullptr);
  ~Producer();  // close()
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Queues `m`, waiting while librdkafka's queue is full. On success returns
  // NO_ERROR and takes m's delivery (its Ack) and headers. A per-message
  // rejection (e.g. MSG_SIZE_TOO_LARGE) is returned and `m` is left intact,
  // so the caller can dead-letter the record. Throws KafkaError when the
  // producer has failed or is closed.
  rd_kafka_resp_err_t send(OutMessage& m);

  // Waits until every queued message has its delivery report handled; true
  // if none is left.
  bool flush(std::chrono::milliseconds timeout);
  // Messages queued or in flight whose reports have not been handled.
  size_t outstanding() const;

  bool failed() const { return failed_.load(std::memory_order_acquire); }
  std::string failure() const;

  // Stops the report thread, drops what is still queued (those Acks are
  // never completed) and destroys the client. Idempotent.
  void close();

  rd_kafka_t* handle() const { return rk_; }

 private:
  static void dr_cb(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);
  static void error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  void on_delivery(const rd_kafka_message_t* m);
  void fail(const std::string& why);
  rd_kafka_topic_t* topic_handle(core::TopicId id);
  Delivery* acquire_slot();

  rd_kafka_t* rk_ = nullptr;
  DeliveryObserver* observer_;
  std::unique_ptr<DeliveryPool> pool_;
  static constexpr size_t kTopicCache = 1024;
  std::unique_ptr<std::atomic<rd_kafka_topic_t*>[]> topics_;  // by TopicId < kTopicCache
  std::mutex topics_mu_;
  std::unordered_map<core::TopicId, rd_kafka_topic_t*> topics_overflow_;  // ids >= kTopicCache
  std::thread poller_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> closing_{false};
  std::atomic<bool> closed_{false};
  std::atomic<bool> failed_{false};
  mutable std::mutex failure_mu_;
  std::string failure_;
};

}  // namespace sluice::kafka
