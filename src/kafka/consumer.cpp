#include "src/kafka/consumer.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string_view>

#include "src/core/log.h"
#include "src/kafka/error.h"

namespace sluice::kafka {
namespace {

core::LogLimiter g_poll_errors;
core::LogLimiter g_client_errors;
core::LogLimiter g_commit_errors;

bool is_true(std::string_view v) { return v == "true" || v == "1" || v == "yes"; }

}  // namespace

void destroy_message(void* message) {
  rd_kafka_message_destroy(static_cast<rd_kafka_message_t*>(message));
}

Conf consumer_conf(const ConsumerConfig& config) {
  Conf conf(config.sources);
  if (config.group_id.empty())
    throw PropertyError(conf.source_of("group.id").path, "a consumer group id is required");
  if (config.bootstrap_servers.empty())
    throw PropertyError(conf.source_of("bootstrap.servers").path, "bootstrap servers are required");
  for (const char* forbidden : {"enable.auto.commit", "enable.auto.offset.store"}) {
    auto it = config.properties.find(forbidden);
    if (it != config.properties.end() && is_true(it->second)) {
      throw PropertyError(
          conf.source_of(forbidden).path,
          "sluice commits offsets itself, once records are delivered; it must stay false");
    }
  }
  conf.set("bootstrap.servers", config.bootstrap_servers)
      .set("group.id", config.group_id)
      .set("partition.assignment.strategy", config.assignment_strategy)
      // Failover within seconds (see consumer.h); librdkafka's 45 s session
      // timeout stood a crashed member's partitions still for 47 s.
      .set("session.timeout.ms", kDefaultSessionTimeoutMs)
      .set("heartbeat.interval.ms", kDefaultHeartbeatIntervalMs)
      .set("auto.offset.reset", config.auto_offset_reset)
      .set("client.id", "sluice")
      // librdkafka 2.0 stops fetching for a fixed second once its queue holds
      // queued.min.messages (default 100000) messages: at half a million
      // small records a second that drained in 0.2 s and starved the
      // pipeline for 0.8 s (librdkafka issue #2879). Let the byte bound
      // (queued.max.messages.kbytes, 64 MiB) govern instead.
      .set("queued.min.messages", "1000000")
      // Statistics tell when brokers are reachable again (brokers_reachable()).
      .set("statistics.interval.ms", "5000");
  if (!config.instance_id.empty()) conf.set("group.instance.id", config.instance_id);
  conf.set_all(config.properties)
      .set("enable.auto.commit", "false")
      .set("enable.auto.offset.store", "false");
  return conf;
}

Consumer::Consumer(const ConsumerConfig& config, RebalanceListener* listener)
    : listener_(listener) {
  Conf conf = consumer_conf(config);
  rd_kafka_conf_set_rebalance_cb(conf.get(), &Consumer::rebalance_cb);
  rd_kafka_conf_set_offset_commit_cb(conf.get(), &Consumer::commit_cb);
  rd_kafka_conf_set_error_cb(conf.get(), &Consumer::error_cb);
  rd_kafka_conf_set_stats_cb(conf.get(), &Consumer::stats_cb);
  check(rd_kafka_conf_interceptor_add_on_new(conf.get(), "sluice.group", &Consumer::on_new,
                                             group_.get()),
        "kafka consumer: interceptor");
  rd_kafka_conf_set_opaque(conf.get(), this);
  rk_ = new_client(RD_KAFKA_CONSUMER, std::move(conf), "kafka consumer");
  rd_kafka_poll_set_consumer(rk_);
}

Consumer::~Consumer() {
  try {
    close();
  } catch (const std::exception& e) {
    core::log_error("kafka consumer: close failed: ", e.what());
  }
}

void Consumer::subscribe(const std::vector<std::string>& topics) {
  PartitionList list(static_cast<int>(topics.size()));
  for (const auto& t : topics) list.add(t, RD_KAFKA_PARTITION_UA);
  check(rd_kafka_subscribe(rk_, list.get()), "kafka consumer: subscribe");
}

MessagePtr Consumer::poll(std::chrono::milliseconds timeout) {
  MessagePtr m(rd_kafka_consumer_poll(rk_, static_cast<int>(timeout.count())));
  if (!rebalance_error_.empty()) {
    std::string e = std::move(rebalance_error_);
    rebalance_error_.clear();
    throw KafkaError(e);
  }
  if (m && m->err == RD_KAFKA_RESP_ERR_NO_ERROR && !brokers_up_.load(std::memory_order_relaxed)) {
    brokers_up_.store(true, std::memory_order_relaxed);  // a fetch got through
  }
  if (!m || m->err == RD_KAFKA_RESP_ERR_NO_ERROR) return m;
  if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    uint64_t suppressed = 0;
    if (g_poll_errors.allow(&suppressed)) {
      core::log_warn(
          "kafka consumer: ", rd_kafka_err2name(m->err), ": ", rd_kafka_message_errstr(m.get()),
          m->rkt ? std::string(" (topic ") + rd_kafka_topic_name(m->rkt) + ")" : std::string(),
          suppressed ? " (" + std::to_string(suppressed) + " more suppressed)" : std::string());
    }
  }
  throw_if_fatal();
  return nullptr;
}

void Consumer::throw_if_fatal() {
  char reason[512];
  rd_kafka_resp_err_t err = rd_kafka_fatal_error(rk_, reason, sizeof reason);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaError(
        err, std::string("kafka consumer: fatal error: ") + rd_kafka_err2name(err) + ": " + reason);
  }
}

void Consumer::pause(const PartitionList& partitions) {
  check(rd_kafka_pause_partitions(rk_, partitions.get()), "kafka consumer: pause");
}

void Consumer::resume(const PartitionList& partitions) {
  check(rd_kafka_resume_partitions(rk_, partitions.get()), "kafka consumer: resume");
  // librdkafka 2.0.2's broker threads notice a resumed partition only on
  // their next wake-up, up to a second later: under steady backpressure that
  // second repeats at every resume. Seeking each partition to its position
  // (the next record the application would read, so nothing is skipped or
  // read twice) restarts its fetch at once. Partitions not read from yet
  // have no position and are left to resume on their own.
  PartitionList positions(partitions.size());
  for (const rd_kafka_topic_partition_t& tp : partitions) positions.add(tp.topic, tp.partition);
  rd_kafka_position(rk_, positions.get());
  PartitionList seek(positions.size());
  for (const rd_kafka_topic_partition_t& tp : positions) {
    if (tp.offset >= 0) seek.add(tp.topic, tp.partition, tp.offset);
  }
  if (!seek.empty())
    check(rd_kafka_seek_partitions(rk_, seek.get(), 0), "kafka consumer: resume (seek)");
}

void Consumer::commit_async(const PartitionList& offsets) {
  // Errors (also immediate ones, such as no coordinator) reach commit_cb.
  rd_kafka_commit(rk_, offsets.get(), 1);
}

rd_kafka_resp_err_t Consumer::commit_sync(PartitionList& offsets,
                                          std::chrono::milliseconds timeout) {
  // rd_kafka_commit(sync) waits as long as the coordinator is unreachable,
  // which held SIGTERM during a broker outage for a minute: wait on a queue
  // of our own, for at most `timeout`.
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk_);
  rd_kafka_resp_err_t err = rd_kafka_commit_queue(rk_, offsets.get(), q, nullptr, nullptr);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, static_cast<int>(timeout.count()));
    if (!ev) {
      err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    } else {
      err = rd_kafka_event_error(ev);
      if (const rd_kafka_topic_partition_list_t* result = rd_kafka_event_topic_partition_list(ev)) {
        for (int i = 0; i < result->cnt; ++i) {
          const rd_kafka_topic_partition_t& r = result->elems[i];
          for (int j = 0; j < offsets.size(); ++j) {
            if (offsets[j].partition == r.partition && std::strcmp(offsets[j].topic, r.topic) == 0)
              offsets[j].err = r.err;
          }
        }
      }
      rd_kafka_event_destroy(ev);
    }
  }
  rd_kafka_queue_destroy(q);  // a late answer is dropped with it
  return err;
}

void Consumer::seek(const PartitionList& offsets) {
  // Waits (bounded) until the fetcher has the new position, so that no
  // message fetched before the seek reaches the application after it.
  if (!offsets.empty())
    check(rd_kafka_seek_partitions(rk_, offsets.get(), 10000), "kafka consumer: seek");
}

rd_kafka_consumer_group_metadata_t* Consumer::group_metadata() const {
  return rd_kafka_consumer_group_metadata(rk_);
}

bool Consumer::watermarks(const char* topic, int32_t partition, int64_t* low, int64_t* high) const {
  return rd_kafka_get_watermark_offsets(rk_, topic, partition, low, high) ==
             RD_KAFKA_RESP_ERR_NO_ERROR &&
         *high >= 0;
}

bool Consumer::query_watermarks(const char* topic, int32_t partition, int64_t* low, int64_t* high,
                                std::chrono::milliseconds timeout) const {
  return rd_kafka_query_watermark_offsets(rk_, topic, partition, low, high,
                                          static_cast<int>(timeout.count())) ==
             RD_KAFKA_RESP_ERR_NO_ERROR &&
         *high >= 0;
}

void Consumer::positions(PartitionList& partitions) const {
  rd_kafka_position(rk_, partitions.get());
}

bool Consumer::committed(PartitionList& partitions, std::chrono::milliseconds timeout) const {
  return rd_kafka_committed(rk_, partitions.get(), static_cast<int>(timeout.count())) ==
         RD_KAFKA_RESP_ERR_NO_ERROR;
}

std::string Consumer::rebalance_protocol() const {
  const char* p = rd_kafka_rebalance_protocol(rk_);
  return p ? p : "NONE";
}

void Consumer::close(std::chrono::milliseconds timeout) {
  if (closed_ || !rk_) return;
  closed_ = true;
  // rd_kafka_consumer_close() waits for the group to answer, for as long as
  // the coordinator is unreachable: close on a queue of our own and serve it
  // until closed or `timeout`. The queue carries the revocation (handled
  // here, as rebalance_cb would) and whatever was still fetched (dropped).
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk_);
  bool closed = true;
  if (rd_kafka_error_t* error = rd_kafka_consumer_close_queue(rk_, q)) {
    core::log_warn("kafka consumer: close: ", rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
  } else {
    while (!rd_kafka_consumer_closed(rk_)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        core::log_warn("kafka consumer: leaving the group did not finish within ", timeout.count(),
                       " ms (brokers unreachable?); the group notices at session.timeout.ms");
        closed = false;
        break;
      }
      rd_kafka_event_t* ev =
          rd_kafka_queue_poll(q, static_cast<int>(std::min<int64_t>(left.count(), 100)));
      if (!ev) continue;
      if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
        on_rebalance(rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev));
      rd_kafka_event_destroy(ev);
    }
  }
  rd_kafka_queue_destroy(q);
  if (closed) {
    rd_kafka_destroy_flags(rk_, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  } else {
    // rd_kafka_destroy would wait for the requests still out (a commit, the
    // leave) to time out. Only the interceptors still call into us (their
    // state goes with the client); callbacks run only when polled.
    static_cast<void>(group_.release());
  }
  rk_ = nullptr;
}

rd_kafka_resp_err_t Consumer::on_new(rd_kafka_t* rk, const rd_kafka_conf_t*, void* opaque, char*,
                                     size_t) {
  rd_kafka_interceptor_add_on_request_sent(rk, "sluice.group", &Consumer::on_request_sent, opaque);
  rd_kafka_interceptor_add_on_response_received(rk, "sluice.group", &Consumer::on_response_received,
                                                opaque);
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

namespace {
constexpr int16_t kJoinGroup = 11;  // Kafka protocol ApiKeys
constexpr int16_t kSyncGroup = 14;
}  // namespace

rd_kafka_resp_err_t Consumer::on_request_sent(rd_kafka_t*, int, const char*, int32_t,
                                              int16_t api_key, int16_t, int32_t, size_t,
                                              void* opaque) {
  if (api_key == kJoinGroup) {
    auto* group = static_cast<GroupState*>(opaque);
    group->rebalancing.store(true, std::memory_order_release);
    group->joins.fetch_add(1, std::memory_order_relaxed);
  }
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

rd_kafka_resp_err_t Consumer::on_response_received(rd_kafka_t*, int, const char*, int32_t,
                                                   int16_t api_key, int16_t, int32_t, size_t,
                                                   int64_t, rd_kafka_resp_err_t, void* opaque) {
  // Whatever the answer: a failed SyncGroup makes librdkafka send JoinGroup
  // again, which sets the flag again.
  if (api_key == kSyncGroup)
    static_cast<GroupState*>(opaque)->rebalancing.store(false, std::memory_order_release);
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

void Consumer::rebalance_cb(rd_kafka_t*, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t* parts, void* opaque) {
  static_cast<Consumer*>(opaque)->on_rebalance(err, parts);
}

void Consumer::on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
  // Exceptions cannot cross librdkafka's C frames: keep the first and throw
  // it from poll().
  auto fail = [&](const std::string& what) {
    core::log_error("kafka consumer: rebalance: ", what);
    if (rebalance_error_.empty()) rebalance_error_ = "kafka consumer: rebalance: " + what;
  };
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk_), "COOPERATIVE") == 0;
  PartitionList list = PartitionList::borrow(parts);
  try {
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      core::log_info("kafka consumer: assigned ", list.size(), " partition(s)",
                     cooperative ? " (incremental)" : "");
      listener_->start_offsets(list);
      if (cooperative) {
        check(rd_kafka_incremental_assign(rk_, parts), "incremental assign");
      } else {
        check(rd_kafka_assign(rk_, parts), "assign");
      }
      listener_->on_assigned(list);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      const bool lost = rd_kafka_assignment_lost(rk_);
      core::log_info("kafka consumer: ", lost ? "lost " : "revoked ", list.size(), " partition(s)");
      listener_->on_revoked(list, lost);
      if (cooperative) {
        check(rd_kafka_incremental_unassign(rk_, parts), "incremental unassign");
      } else {
        check(rd_kafka_assign(rk_, nullptr), "unassign");
      }
    } else {
      fail(error_name(err));
      rd_kafka_assign(rk_, nullptr);
    }
  } catch (const std::exception& e) {
    fail(e.what());
  }
}

void Consumer::commit_cb(rd_kafka_t*, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t* offsets, void* opaque) {
  auto* self = static_cast<Consumer*>(opaque);
  uint64_t suppressed = 0;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET &&
      g_commit_errors.allow(&suppressed)) {
    core::log_warn(
        "kafka consumer: commit failed: ", error_name(err),
        " (records after the last successful commit will be consumed again after a restart)",
        suppressed ? " (" + std::to_string(suppressed) + " more suppressed)" : std::string());
  }
  if (offsets) self->listener_->on_committed(PartitionList::borrow(offsets), err);
}

void Consumer::error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
    static_cast<Consumer*>(opaque)->brokers_up_.store(false, std::memory_order_relaxed);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    core::log_error("kafka consumer: fatal: ", reason);
    return;  // poll() throws
  }
  uint64_t suppressed = 0;
  if (g_client_errors.allow(&suppressed)) {
    core::log_warn(
        "kafka consumer: ", rd_kafka_err2name(code), ": ", reason,
        suppressed ? " (" + std::to_string(suppressed) + " more suppressed)" : std::string());
  }
}

int Consumer::stats_cb(rd_kafka_t*, char* json, size_t json_len, void* opaque) {
  auto* self = static_cast<Consumer*>(opaque);
  if (self->brokers_up_.load(std::memory_order_relaxed)) return 0;  // nothing to learn
  // {"brokers": {"host:port/id": {"state": "UP", ...}, ...}, ...}: any connection up
  // (a configured, learned or coordinator broker) means the cluster is reachable.
  const auto stats = nlohmann::json::parse(json, json + json_len, nullptr, /*exceptions=*/false);
  const auto brokers = stats.is_object() ? stats.find("brokers") : stats.end();
  if (brokers == stats.end() || !brokers->is_object()) return 0;
  for (const auto& [name, broker] : brokers->items()) {
    const auto state = broker.is_object() ? broker.find("state") : broker.end();
    if (state != broker.end() && state->is_string() && state->get<std::string>() == "UP") {
      self->brokers_up_.store(true, std::memory_order_relaxed);
      core::log_info("kafka consumer: broker ", name, " is up again");
      break;
    }
  }
  return 0;  // librdkafka frees `json`
}

}  // namespace sluice::kafka
