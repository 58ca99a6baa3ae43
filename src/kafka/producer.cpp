#include "src/kafka/producer.h"

#include <algorithm>
#include <charconv>
#include <thread>

#include "src/core/clock.h"
#include "src/core/log.h"
#include "src/kafka/error.h"

namespace sluice::kafka {
namespace {

core::LogLimiter g_producer_errors;

bool is_false(std::string_view v) { return v == "false" || v == "0" || v == "no"; }

// librdkafka's default queue.buffering.max.messages (2.0.2).
constexpr size_t kDefaultQueueMessages = 100000;

// Refused messages are produced again this often (see producer.h).
constexpr int64_t kRefusalBackoffNs = 500'000'000;

// Errors librdkafka does not retry that are often brief: access being
// granted, a topic being created.
bool is_refusal(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
      return true;
    default:
      return false;
  }
}

}  // namespace

Conf producer_conf(const ProducerConfig& config) {
  Conf conf(config.sources);
  if (config.bootstrap_servers.empty())
    throw PropertyError(conf.source_of("bootstrap.servers").path, "bootstrap servers are required");
  auto idem = config.properties.find("enable.idempotence");
  if (idem != config.properties.end() && is_false(idem->second)) {
    throw PropertyError(
        conf.source_of("enable.idempotence").path,
        "the sink needs the idempotent producer (no duplicates or reordering on retries); it "
        "must stay true");
  }
  conf.set("bootstrap.servers", config.bootstrap_servers).set("client.id", "sluice");
  if (!config.transactional_id.empty()) {
    // A crashed instance's open transaction blocks read_committed consumers
    // of its output partitions until it is aborted: by the restarted
    // instance (init_transactions), or by the broker after this long. Kafka
    // Streams uses the same 10 s.
    conf.set("transactional.id", config.transactional_id).set("transaction.timeout.ms", "10000");
  }
  conf.set_all(config.properties).set("enable.idempotence", "true");
  return conf;
}

Producer::Producer(const ProducerConfig& config, DeliveryObserver* observer)
    : observer_(observer),
      refusal_timeout_(config.refusal_timeout),
      transactional_(!config.transactional_id.empty() ||
                     config.properties.count("transactional.id") > 0) {
  size_t queue_messages = kDefaultQueueMessages;
  if (auto q = config.properties.find("queue.buffering.max.messages");
      q != config.properties.end()) {
    std::from_chars(q->second.data(), q->second.data() + q->second.size(), queue_messages);
  }
  Conf conf = producer_conf(config);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Producer::dr_cb);
  rd_kafka_conf_set_error_cb(conf.get(), &Producer::error_cb);
  rd_kafka_conf_set_opaque(conf.get(), this);
  rk_ = new_client(RD_KAFKA_PRODUCER, std::move(conf), "kafka producer");

  // One slot per message librdkafka may hold, plus room for senders racing
  // the queue-full check.
  pool_ = std::make_unique<DeliveryPool>(queue_messages + 1024);
  topics_.reset(new std::atomic<rd_kafka_topic_t*>[kTopicCache]);
  for (size_t i = 0; i < kTopicCache; ++i) topics_[i].store(nullptr, std::memory_order_relaxed);
  poller_ = std::thread([this] {
    while (!stop_.load(std::memory_order_acquire)) {
      rd_kafka_poll(rk_, 100);
      if (refused_count_.load(std::memory_order_relaxed) > 0) resend_refused();
    }
  });
}

Producer::~Producer() { close(); }

rd_kafka_topic_t* Producer::topic_handle(core::TopicId id) {
  if (id < 0) throw KafkaError("kafka producer: message without a topic");
  if (static_cast<size_t>(id) < kTopicCache) {
    if (rd_kafka_topic_t* t = topics_[id].load(std::memory_order_acquire)) return t;
  }
  std::lock_guard lock(topics_mu_);
  rd_kafka_topic_t* t = nullptr;
  if (static_cast<size_t>(id) < kTopicCache) {
    t = topics_[id].load(std::memory_order_relaxed);
  } else if (auto it = topics_overflow_.find(id); it != topics_overflow_.end()) {
    t = it->second;
  }
  if (t) return t;
  std::string name(core::topic_name(id));
  t = rd_kafka_topic_new(rk_, name.c_str(), nullptr);
  if (!t)
    throw KafkaError(rd_kafka_last_error(),
                     "kafka producer: topic '" + name + "': " + error_name(rd_kafka_last_error()));
  if (static_cast<size_t>(id) < kTopicCache) {
    topics_[id].store(t, std::memory_order_release);
  } else {
    topics_overflow_[id] = t;
  }
  return t;
}

Delivery* Producer::acquire_slot() {
  for (;;) {
    if (Delivery* d = pool_->acquire()) return d;
    if (failed()) throw KafkaError("kafka producer: " + failure());
    if (closing_.load()) throw KafkaError("kafka producer: closed");
    rd_kafka_poll(rk_, 10);  // serve delivery reports; frees slots
  }
}

rd_kafka_resp_err_t Producer::send(OutMessage& m) {
  if (failed()) throw KafkaError("kafka producer: " + failure());
  if (closing_.load(std::memory_order_relaxed)) throw KafkaError("kafka producer: closed");
  rd_kafka_topic_t* rkt = topic_handle(m.topic);
  Delivery* d = acquire_slot();
  // Transactional: the Ack completes here, once the message is accepted (it
  // must not also be completed by a delivery report racing on another thread).
  core::Ack in_transaction;
  if (transactional_) in_transaction = std::move(m.delivery.ack);
  *d = std::move(m.delivery);
  const char* key = m.key ? m.key->data() : nullptr;
  const size_t key_len = m.key ? m.key->size() : 0;
  for (;;) {
    rd_kafka_resp_err_t err =
        rd_kafka_producev(rk_, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_VALUE(const_cast<char*>(m.value.data()), m.value.size()),
                          RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_HEADERS(m.headers.get()),
                          RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      m.headers.release();  // librdkafka owns them now
      in_transaction.complete();
      return err;
    }
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !failed() && !closing_.load()) {
      rd_kafka_poll(rk_, 10);  // wait for deliveries to make room (backpressure)
      continue;
    }
    // A refusal librdkafka already knows of (from metadata) comes back here,
    // not in a report: the sender waits and tries again, as for a full queue.
    if (is_refusal(err) && !failed() && !closing_.load() &&
        still_retrying(rd_kafka_topic_name(rkt), err)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    m.delivery = std::move(*d);
    if (transactional_) m.delivery.ack = std::move(in_transaction);
    pool_->release(d);
    if (err == RD_KAFKA_RESP_ERR__FATAL || err == RD_KAFKA_RESP_ERR__QUEUE_FULL || failed()) {
      if (err == RD_KAFKA_RESP_ERR__FATAL) fail("fatal error: " + error_name(err));
      throw KafkaError(err, "kafka producer: " + (failed() ? failure() : std::string("closed")));
    }
    return err;
  }
}

bool Producer::flush(std::chrono::milliseconds timeout) {
  if (closed_.load()) return true;
  // Refused messages wait outside librdkafka's queue between attempts.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    const int slice = static_cast<int>(std::clamp<int64_t>(left.count(), 0, 100));
    if (rd_kafka_flush(rk_, slice) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        refused_count_.load(std::memory_order_acquire) == 0)
      return true;
    if (left.count() <= 0 || failed()) return false;
  }
}

size_t Producer::outstanding() const {
  if (closed_.load()) return 0;
  return static_cast<size_t>(rd_kafka_outq_len(rk_)) +
         refused_count_.load(std::memory_order_relaxed);
}

std::string Producer::failure() const {
  std::lock_guard lock(failure_mu_);
  return failure_;
}

void Producer::fail(const std::string& why) {
  {
    std::lock_guard lock(failure_mu_);
    if (!failure_.empty()) return;
    failure_ = why;
  }
  failed_.store(true, std::memory_order_release);
  core::log_error("kafka producer: ", why, " (undelivered records stay uncommitted)");
}

void Producer::close() {
  if (closed_.load() || !rk_) return;
  closing_.store(true);
  stop_.store(true, std::memory_order_release);
  rd_kafka_yield(rk_);
  if (poller_.joinable()) poller_.join();
  // After a clean flush nothing is left; after an abort, purged messages get
  // error reports here, which release their slots without completing Acks.
  rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_flush(rk_, 5000);
  for (Refused& r : refused_) {  // never completed: their records stay uncommitted
    if (r.headers) rd_kafka_headers_destroy(r.headers);
    pool_->release(r.delivery);
  }
  refused_.clear();
  refused_count_.store(0);
  for (size_t i = 0; i < kTopicCache; ++i) {
    if (rd_kafka_topic_t* t = topics_[i].exchange(nullptr)) rd_kafka_topic_destroy(t);
  }
  for (auto& [id, t] : topics_overflow_) rd_kafka_topic_destroy(t);
  topics_overflow_.clear();
  rd_kafka_destroy(rk_);
  closed_.store(true);
}

void Producer::dr_cb(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  static_cast<Producer*>(opaque)->on_delivery(m);
}

void Producer::on_delivery(const rd_kafka_message_t* m) {
  auto* d = static_cast<Delivery*>(m->_private);
  if (!d) return;
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (refused_since_ns_.load(std::memory_order_relaxed) != 0 &&
        refused_since_ns_.exchange(0) != 0)
      core::log_info("kafka producer: deliveries accepted again");
    d->ack.complete();
    if (observer_) observer_->on_delivered(*d);
  } else if (transactional_) {
    // The open transaction now requires an abort: its commit says so.
    uint64_t suppressed = 0;
    if (g_producer_errors.allow(&suppressed)) {
      core::log_warn("kafka producer: delivery to topic '",
                     m->rkt ? rd_kafka_topic_name(m->rkt) : "?", "' failed: ", error_name(m->err),
                     " (the transaction will be aborted)",
                     suppressed ? " (" + std::to_string(suppressed) + " more suppressed)" : "");
    }
  } else if (!closing_.load(std::memory_order_relaxed)) {
    if (is_refusal(m->err) && retry_refused(m, d)) return;  // d lives on
    fail("delivery to topic '" + std::string(m->rkt ? rd_kafka_topic_name(m->rkt) : "?") +
         "' failed: " + error_name(m->err));
  }
  pool_->release(d);  // an uncompleted Ack is abandoned: its record is never committed
}

bool Producer::still_retrying(std::string_view topic, rd_kafka_resp_err_t err) {
  const int64_t now = core::now_ns();
  int64_t since = 0;
  if (refused_since_ns_.compare_exchange_strong(since, now)) {
    since = now;
    core::log_warn("kafka producer: topic '", topic, "' refuses records: ", error_name(err),
                   "; retrying for up to ", refusal_timeout_.count() / 1000.0,
                   " s (kafka.refusal_timeout)");
  }
  if (now - since < std::chrono::nanoseconds(refusal_timeout_).count()) return true;
  fail("delivery to topic '" + std::string(topic) + "' refused for " +
       std::to_string((now - since) / 1'000'000'000) +
       " s (kafka.refusal_timeout): " + error_name(err));
  return false;
}

bool Producer::retry_refused(const rd_kafka_message_t* m, Delivery* d) {
  if (!still_retrying(rd_kafka_topic_name(m->rkt), m->err)) return false;
  Refused r{
      m->rkt,       m->err,
      std::nullopt, std::string(static_cast<const char*>(m->payload), m->payload ? m->len : 0),
      nullptr,      d};
  if (m->key) r.key.emplace(static_cast<const char*>(m->key), m->key_len);
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR && headers)
    r.headers = rd_kafka_headers_copy(headers);
  std::lock_guard lock(refused_mu_);
  refused_.push_back(std::move(r));
  refused_count_.fetch_add(1, std::memory_order_release);
  return true;
}

void Producer::resend_refused() {
  const int64_t now = core::now_ns();
  if (now < next_resend_ns_) return;
  next_resend_ns_ = now + kRefusalBackoffNs;
  std::vector<Refused> batch;
  {
    std::lock_guard lock(refused_mu_);
    batch.swap(refused_);
  }
  std::vector<Refused> again;
  for (Refused& r : batch) {
    const char* key = r.key ? r.key->data() : nullptr;
    const size_t key_len = r.key ? r.key->size() : 0;
    // Partitioned afresh: keyed records land where they did (same partition
    // count); the count may even read 0 while the topic is refused.
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_, RD_KAFKA_V_RKT(r.topic), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(r.value.data(), r.value.size()),
        RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_HEADERS(r.headers), RD_KAFKA_V_OPAQUE(r.delivery),
        RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      refused_count_.fetch_sub(1, std::memory_order_release);  // librdkafka owns the headers
    } else if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL ||
               (is_refusal(err) && still_retrying(rd_kafka_topic_name(r.topic), err))) {
      again.push_back(std::move(r));  // next round
    } else {
      if (!failed())
        fail("delivery to topic '" + std::string(rd_kafka_topic_name(r.topic)) +
             "' failed: " + error_name(err));
      if (r.headers) rd_kafka_headers_destroy(r.headers);
      pool_->release(r.delivery);  // never completed: its record stays uncommitted
      refused_count_.fetch_sub(1, std::memory_order_release);
    }
  }
  if (!again.empty()) {
    std::lock_guard lock(refused_mu_);
    for (Refused& r : again) refused_.push_back(std::move(r));
  }
}

void Producer::error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    char fatal[512];
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal, sizeof fatal);
    self->fail(std::string("fatal error: ") + rd_kafka_err2name(orig) + ": " + fatal);
    return;
  }
  uint64_t suppressed = 0;
  if (g_producer_errors.allow(&suppressed)) {
    core::log_warn(
        "kafka producer: ", rd_kafka_err2name(code), ": ", reason,
        suppressed ? " (" + std::to_string(suppressed) + " more suppressed)" : std::string());
  }
}

}  // namespace sluice::kafka
