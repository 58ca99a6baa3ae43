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

struct ConsumerConfig {
  std::string bootstrap_servers;
  std::string group_id;
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
  // The partitions are now assigned (consumption starts at their committed
  // offsets). The listener may pause them.
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
  // Moves each partition's position to its offset in the list (the next
  // record to read); messages of it already fetched are dropped.
  void seek(const PartitionList& offsets);

  // Commits the offsets in the list (offset = next record to read).
  // Synchronous: returns the request's error; per-partition errors are set in
  // `offsets`. Asynchronous: returns at once; the listener hears the result.
  rd_kafka_resp_err_t commit(PartitionList& offsets, bool async);

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
  // client. Every message it returned must have been destroyed before.
  void close();

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
  void on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts);
  void throw_if_fatal();

  rd_kafka_t* rk_ = nullptr;
  RebalanceListener* listener_;
  bool closed_ = false;
  std::string rebalance_error_;  // set inside a callback, thrown from poll()
  std::atomic<bool> brokers_up_{true};
};

}  // namespace sluice::kafka
