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
// Refusals: librdkafka does not retry errors it deems permanent, such as an
// authorization failure or an unknown topic, yet those are often brief (ACLs
// being rolled out, a topic being created). A refused message is produced
// again every kRefusalBackoff (a refusal librdkafka reports when the record
// is queued makes the sender wait and try again) while refusals have lasted
// less than refusal_timeout; past it the producer fails, naming the topic and
// the error. (Retried messages may come out of order behind later ones.)
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
#include <vector>

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
  // How long refusals (see the top of this file) are retried; 0: fail at once.
  std::chrono::milliseconds refusal_timeout{60000};
  // exactly_once: the producer's transactional.id (empty: not transactional).
  // A transactional producer completes a message's Ack once the message is
  // in the open transaction: the transaction's commit is what makes it
  // durable, and a failed delivery fails the commit (the transaction is then
  // aborted and its input read again), not the producer.
  std::string transactional_id;
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
  // Messages queued, in flight or waiting to be retried after a refusal,
  // whose reports have not been handled.
  size_t outstanding() const;

  bool failed() const { return failed_.load(std::memory_order_acquire); }
  std::string failure() const;

  // Stops the report thread, drops what is still queued (those Acks are
  // never completed) and destroys the client. Idempotent.
  void close();

  rd_kafka_t* handle() const { return rk_; }
  bool transactional() const { return transactional_; }

 private:
  static void dr_cb(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);
  static void error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  void on_delivery(const rd_kafka_message_t* m);
  void fail(const std::string& why);
  // Notes a refusal; false once refusals have lasted refusal_timeout (the
  // producer is then failed, naming `topic` and `err`).
  bool still_retrying(std::string_view topic, rd_kafka_resp_err_t err);
  // A refused message: queued for resend_refused(), or false when refusals
  // have lasted refusal_timeout (the caller fails the producer).
  bool retry_refused(const rd_kafka_message_t* m, Delivery* d);
  // Produces the refused messages again (delivery-report thread).
  void resend_refused();
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
  // Refused messages waiting to be produced again (reports may be served on
  // any thread that polls or flushes, hence the lock; refusals only).
  struct Refused {
    rd_kafka_topic_t* topic;
    rd_kafka_resp_err_t error;
    std::optional<std::string> key;
    std::string value;
    rd_kafka_headers_t* headers;  // owned
    Delivery* delivery;
  };
  std::chrono::milliseconds refusal_timeout_;
  bool transactional_;
  std::mutex refused_mu_;
  std::vector<Refused> refused_;
  std::atomic<size_t> refused_count_{0};
  std::atomic<int64_t> refused_since_ns_{0};  // first refusal of the current run; 0: none
  int64_t next_resend_ns_ = 0;                // delivery-report thread only
};

}  // namespace sluice::kafka
