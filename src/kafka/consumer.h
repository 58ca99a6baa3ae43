// Consumer: RAII over librdkafka's high-level (group) consumer, with manual
// offset commits and the rebalance protocol (eager or cooperative) handled
// here, so the source only hears "assigned" and "revoked".
//
// Threading: one thread drives the consumer (poll, pause/resume, commit); the
// listener's callbacks run on that thread, inside poll() (and inside close()).
//
// Reachability (brokers_reachable()): librdkafka reports "all brokers down" as an
// error but says nothing when a broker comes back, so recovery is read from its
// statistics (statistics.interval.ms, 5 s unless configured; parsed only while
// the brokers are down) or seen in a fetched message.
//
// Group membership (rebalancing()): from the moment this member sends a
// JoinGroup request until its SyncGroup response arrives, the group's
// generation is changing. A commit sent then carries the old generation; the
// broker answers ILLEGAL_GENERATION or REBALANCE_IN_PROGRESS, and librdkafka
// 2.0.2 declares the whole assignment lost on the former (librdkafka issue
// #4059, fixed in 2.10). librdkafka does not publish its join state, so it is
// read off the wire with protocol interceptors (on_request_sent: JoinGroup;
// on_response_received: SyncGroup), which see every rejoin, whatever caused it.
//
// Failover: sluice's defaults (below) let the group notice a crashed member
// within session.timeout.ms = 6 s (the smallest a broker accepts by default,
// group.min.session.timeout.ms) and let the survivors hear of the rebalance
// within heartbeat.interval.ms = 1 s, so a dead member's partitions move in
// about 7 s (librdkafka's 45 s default stood them still for 47 s). With
// static membership (instance_id: group.instance.id) a restart within the
// session timeout takes its partitions back with no rebalance at all.
#pragma once
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "src/kafka/conf.h"
#include "src/kafka/partition_list.h"

namespace sluice::kafka {

// Owning handle on a consumed message.
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

// For core::Lease: destroys a rd_kafka_message_t. Any thread.
void destroy_message(void* message);

// sluice's defaults for failover (documented in the README; overridable in
// kafka.consumer_properties).
inline constexpr const char* kDefaultSessionTimeoutMs = "6000";
inline constexpr const char* kDefaultHeartbeatIntervalMs = "1000";

struct ConsumerConfig {
  std::string bootstrap_servers;
  std::string group_id;
  // Static membership: group.instance.id, stable across restarts of this
  // process (one per StatefulSet pod). Empty: dynamic membership.
  std::string instance_id;
  // "cooperative-sticky" (incremental rebalances) or an eager strategy
  // ("range", "roundrobin").
  std::string assignment_strategy = "cooperative-sticky";
  std::string auto_offset_reset = "earliest";
  // Passed through to librdkafka last, after sluice's defaults. Must not
  // enable auto-commit: sluice commits what is delivered, nothing else.
  Properties properties;
  // Where the settings above were configured, by librdkafka name (for messages).
  PropertySources sources;
};

// The consumer's librdkafka configuration, exactly as the Consumer uses it
// (without its callbacks). Connects to nothing: `sluice validate` builds it
// to report what librdkafka rejects. Throws PropertyError.
Conf consumer_conf(const ConsumerConfig& config);

class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  // Before the partitions are assigned: the listener may set an element's
  // offset to where consumption of it starts (left unset: the committed
  // offset, else auto.offset.reset).
  virtual void start_offsets(PartitionList& partitions) {}
  // The partitions are now assigned. The listener may pause them.
  virtual void on_assigned(const PartitionList& partitions) = 0;
  // The partitions are about to be taken away. Unless `lost`, the listener
  // commits what it may (synchronously) before returning. When lost (session
  // timed out, fenced), another member may already own them: do not commit.
  virtual void on_revoked(const PartitionList& partitions, bool lost) = 0;
  // Result of an asynchronous commit: per-partition err and offsets.
  virtual void on_committed(const PartitionList& offsets, rd_kafka_resp_err_t err) {}
};

class Consumer {
 public:
  // Creates the client. Throws KafkaError on bad configuration.
  Consumer(const ConsumerConfig& config, RebalanceListener* listener);
  ~Consumer();  // close()
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Topic names, or regular expressions starting with '^'.
  void subscribe(const std::vector<std::string>& topics);

  // Next message, or null after `timeout` without one. Transient errors are
  // logged (rate-limited) and return null; fatal ones throw KafkaError.
  MessagePtr poll(std::chrono::milliseconds timeout);

  // Stops fetching the partitions (messages already fetched are dropped by
  // librdkafka and read again after resume()); the consumer stays in its group.
  void pause(const PartitionList& partitions);
  // Fetching restarts at once from each partition's position.
  void resume(const PartitionList& partitions);

  // Commits the offsets in the list (offset = next record to read), at once;
  // the listener hears the result (on_committed, from poll()).
  void commit_async(const PartitionList& offsets);
  // Commits and waits for the broker's answer, at most `timeout`: returns the
  // request's error (_TIMED_OUT when it did not come in time); per-partition
  // errors are set in `offsets`. Commit callbacks of earlier asynchronous
  // commits are not served meanwhile.
  rd_kafka_resp_err_t commit_sync(PartitionList& offsets, std::chrono::milliseconds timeout);

  // True from this member's JoinGroup request until its SyncGroup response:
  // the group generation is changing, and a commit would carry a stale one
  // (see the top of this file). Any thread.
  bool rebalancing() const { return group_->rebalancing.load(std::memory_order_acquire); }
  // JoinGroup requests this member has sent (rebalances it took part in).
  uint64_t joins() const { return group_->joins.load(std::memory_order_relaxed); }

  // Moves each partition's position to its offset in the list (the next
  // record to read: a suspect put back, a rewind after an aborted
  // transaction); messages of it already fetched are dropped. Throws KafkaError.
  void seek(const PartitionList& offsets);
  // The consumer's group metadata, for send_offsets_to_transaction (owned by
  // the caller: rd_kafka_consumer_group_metadata_destroy).
  rd_kafka_consumer_group_metadata_t* group_metadata() const;

  // Low and high watermarks last seen by the client (no broker round trip);
  // false if unknown yet.
  bool watermarks(const char* topic, int32_t partition, int64_t* low, int64_t* high) const;
  // The same, asked of the partition leader (a round trip, up to `timeout`):
  // for partitions the client has not fetched from yet (paused, or not
  // reached), which have no cached watermark.
  bool query_watermarks(const char* topic, int32_t partition, int64_t* low, int64_t* high,
                        std::chrono::milliseconds timeout) const;
  // Fills each element's offset with the position (next offset to consume).
  void positions(PartitionList& partitions) const;
  // Fills each element's offset with the group's committed offset (a broker
  // round trip, blocking up to `timeout`); false on error or timeout.
  bool committed(PartitionList& partitions, std::chrono::milliseconds timeout) const;

  // Leaves the group (the listener hears the revocation) and destroys the
  // client, within `timeout`. During a broker outage leaving cannot finish,
  // and destroying the client would wait for its requests to time out (a
  // minute): the client is then left to the process's exit, which follows.
  // A static member (group.instance.id) does not leave: its partitions wait
  // session.timeout.ms for it to come back. Every message it returned must
  // have been destroyed before.
  void close(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // False from librdkafka's "all brokers down" until a broker connection is seen up
  // again (see the top of this file). Any thread.
  bool brokers_reachable() const { return brokers_up_.load(std::memory_order_relaxed); }

  rd_kafka_t* handle() const { return rk_; }
  // The rebalance protocol in use: "COOPERATIVE", "EAGER" or "NONE".
  std::string rebalance_protocol() const;

 private:
  static void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* parts, void* opaque);
  static void commit_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t* offsets, void* opaque);
  static void error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  static int stats_cb(rd_kafka_t* rk, char* json, size_t json_len, void* opaque);
  static rd_kafka_resp_err_t on_new(rd_kafka_t* rk, const rd_kafka_conf_t* conf, void* opaque,
                                    char* errstr, size_t errstr_size);
  static rd_kafka_resp_err_t on_request_sent(rd_kafka_t* rk, int sockfd, const char* brokername,
                                             int32_t brokerid, int16_t api_key, int16_t api_version,
                                             int32_t corr_id, size_t size, void* opaque);
  static rd_kafka_resp_err_t on_response_received(rd_kafka_t* rk, int sockfd,
                                                  const char* brokername, int32_t brokerid,
                                                  int16_t api_key, int16_t api_version,
                                                  int32_t corr_id, size_t size, int64_t rtt,
                                                  rd_kafka_resp_err_t err, void* opaque);
  void on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts);
  void throw_if_fatal();

  rd_kafka_t* rk_ = nullptr;
  RebalanceListener* listener_;
  bool closed_ = false;
  std::string rebalance_error_;  // set inside a callback, thrown from poll()
  std::atomic<bool> brokers_up_{true};
  // Written by the protocol interceptors on librdkafka's broker threads; a
  // separate allocation, left with the client when close() abandons it.
  struct GroupState {
    std::atomic<bool> rebalancing{false};
    std::atomic<uint64_t> joins{0};
  };
  std::unique_ptr<GroupState> group_ = std::make_unique<GroupState>();
};

}  // namespace sluice::kafka
