// KafkaSource: the pipeline's input — a consumer-group member that turns Kafka
// messages into records (zero-copy: a record borrows its rd_kafka_message_t),
// tracks every record until its outputs are durable, and commits only what is
// done (DESIGN.md §2).
//
//   - Group consumer over topic names or regexes ("^..."), manual commits,
//     cooperative-sticky assignment by default, pass-through properties.
//   - Input format (raw text or JSON, see src/kafka/input_format.h); records
//     that cannot be decoded become dead letters, tracked like any other.
//   - Backpressure: above high_watermark records in flight it stops reading
//     (holds) until they fall to low_watermark. librdkafka keeps prefetching
//     meanwhile, into its own bounded queue (queued.max.messages.kbytes), so a
//     short hold costs nothing on resume. A hold longer than pause_after
//     pauses every assigned partition at the broker and polls again, so the
//     consumer stays in the group however long the pipeline is stuck. (Pausing
//     at once, at every crossing of the mark, discarded librdkafka's prefetched
//     messages and made the refetch wait out a broker long-poll when the
//     unpaused partitions were empty: half-second stalls, and pass-through
//     throughput swinging 0.3-0.7x kcat.) A partition whose OffsetTracker
//     ring is full is paused on its own.
//   - Overload policy (KafkaSourceOptions::shed): under backpressure records
//     wait in Kafka; with shed, those already older than the latency
//     objective when read are dead-lettered (overload) instead of processed.
//   - Crash-loop breaker (src/kafka/crash_marks.h): before records are
//     handed on, their window is marked in a file the next start reads.
//     After a death with records in flight the source runs in suspect mode:
//     other partitions paused, one record in the pipeline at a time, each
//     marked alone first; a suspect in flight alone at a second death is
//     dead-lettered (poison_crash) at the next start instead of being run.
//     A pipeline that ends with records dropped in flight counts as a death.
//   - Commits the lowest offset not yet done per partition: every
//     commit_interval or every commit_records records done, whichever comes
//     first (asynchronously), and synchronously on revocation and in
//     shutdown(). Never while the group generation changes
//     (Consumer::rebalancing()): such a commit waits until the member has
//     rejoined, so none races the rejoin and makes librdkafka 2.0.2 drop the
//     assignment. Records of a revoked partition still in flight are dropped
//     from tracking, uncommitted: their new owner reads them again, and
//     nothing else (sluice_source_rebalance_in_flight_records_total).
//   - Lost assignment (session expired, fenced; no commit possible): the
//     offset below which everything was done is remembered; if the group
//     gives the partition back to this member, consumption restarts there
//     rather than at the stale committed offset (unless the group committed
//     further meanwhile), so work already delivered is not read again.
//   - shutdown() is bounded: flush, final commit and leaving the group end
//     within shutdown_timeout of the stop, even with every broker unreachable.
//   - exactly_once (the output's producer is transactional, see
//     src/kafka/transactions.h): no consumer commits. Every
//     transaction_interval the source stops reading, waits until none of its
//     records is in flight (each one's outputs are in the open transaction)
//     and commits the transaction with the offsets after the records handed
//     on (kafka_source_transactions.cpp). A revocation does the same first;
//     a lost assignment aborts. An aborted transaction rewinds every
//     partition to the offset of the last committed one, so its records are
//     processed again and their discarded outputs produced anew.
//
// Threading: the pipeline's source thread calls start/poll/finish; shutdown()
// runs after every worker has joined. Acks complete from any thread.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "operators/operator_spec.h"
#include "src/core/offset_tracker.h"
#include "src/core/operator.h"
#include "src/kafka/consumer.h"
#include "src/kafka/crash_marks.h"
#include "src/kafka/input_format.h"
#include "src/kafka/output.h"
#include "src/kafka/source_probe.h"
#include "src/state/stores.h"

namespace sluice::operators {

struct KafkaSourceOptions {
  std::string pipeline = "pipeline";     // metrics label
  metrics::Registry* metrics = nullptr;  // null: a private registry (not owned)
  kafka::ConsumerConfig consumer;        // bootstrap servers, group, strategy, properties
  std::vector<std::string> topics;       // names, or regexes starting with '^'
  kafka::InputFormatOptions format;
  size_t high_watermark = 10000;  // records in flight that pause consumption
  size_t low_watermark = 5000;    // records in flight that resume it
  // A hold (above high_watermark) longer than this pauses the partitions at
  // the broker, so that the consumer polls again and keeps its group membership.
  std::chrono::milliseconds pause_after{1000};
  std::chrono::milliseconds commit_interval{1000};
  // Also commit once this many records are done and not committed (bounds
  // what a kill -9 re-delivers at high rates); 0: time only.
  size_t commit_records = 10000;
  std::chrono::milliseconds poll_timeout{100};
  std::chrono::milliseconds lag_interval{1000};  // consumer-lag metric refresh
  size_t max_partitions = 4096;                  // partitions assigned at once
  // Bounds the wait for outstanding deliveries in shutdown() (they are
  // normally flushed already by the sink's finish()).
  std::chrono::milliseconds final_flush_timeout{2000};
  // shutdown() (flush, final commit, leaving the group) ends within this
  // long of the stop (finish()), whatever the brokers do.
  std::chrono::milliseconds shutdown_timeout{30000};
  // Overload policy at the Kafka edge. pause: backpressure only (records
  // wait in Kafka; latency grows with the backlog). shed: a record whose age
  // when read (now - its Kafka timestamp) already exceeds latency_objective
  // cannot meet it: it goes to the dead-letter topic (code overload, counted)
  // instead of through the pipeline, so fresher records keep their latency.
  bool shed = false;
  std::chrono::milliseconds latency_objective{5000};
  // exactly_once: how often the transaction is committed (consumer commits,
  // commit_interval and commit_records, are not used).
  std::chrono::milliseconds transaction_interval{500};
  // exactly_once: set_output() must be given the pipeline's (transactional)
  // output; the source never commits through the consumer.
  bool exactly_once = false;
  // The pipeline's keyed state stores (not owned; may be null or empty).
  // With stores, start() binds them to their changelogs, and every newly
  // assigned partition is restored into them before its first record is
  // read (inside the assignment callback); revoked ones are dropped. They
  // need one input topic named exactly (changelog partition p holds the
  // state of input partition p).
  state::Stores* stores = nullptr;
  // The longest one partition's restore may take (bounded in turn by
  // max.poll.interval.ms, since it runs inside the assignment callback).
  std::chrono::milliseconds restore_timeout{240000};
  // Crash-loop breaker: the directory of its marks file; empty turns it off.
  std::string crash_marks_dir;
  // The marks file is per group and instance: empty takes the consumer's
  // group.instance.id property, else the host name.
  std::string instance_id;
};

class KafkaSource final : public core::Source, private kafka::RebalanceListener {
 public:
  // Checks the options (throws std::invalid_argument naming the option).
  explicit KafkaSource(KafkaSourceOptions options);
  ~KafkaSource() override;

  // Creates the consumer and subscribes. Throws KafkaError on bad settings.
  void start() override;
  Poll poll(core::Emitter& out) override;
  // Notes when the stop began (shutdown()'s deadline counts from it).
  void finish(core::Emitter& out) override;
  // Final synchronous commit, then leaves the group and closes the consumer.
  void shutdown() override;

  // The output whose deliveries complete this source's records, when the
  // source must manage it (it publishes dead letters, or commits the
  // output's transactions under exactly_once): start() starts it;
  // shutdown() flushes and closes it before the final commit, so no delivery
  // report can arrive once the tracker is gone. Not owned.
  void set_output(kafka::Output* output) { output_ = output; }

  const kafka::SourceProbe& probe() const { return probe_; }
  // Records read and not yet committable (any thread).
  size_t in_flight() const { return tracker_.in_flight(); }
  // Whether every partition is paused at the broker: a hold longer than
  // pause_after (any thread).
  bool partitions_paused() const { return paused_all_.load(std::memory_order_relaxed); }
  // Readiness: not before the group has given this member its assignment (an
  // empty one counts: in a group with more members than partitions, a member
  // without partitions is a healthy stand-by, and holding it unready would stall
  // rollouts), nor while every broker is unreachable. Any thread.
  std::string not_ready() const override;

 private:
  struct Partition {
    core::TopicId topic;
    std::string topic_name;
    int32_t partition;
    core::OffsetTracker::Slot slot;
    kafka::SourceProbe::Partition* probe;
    int64_t sent = -1;       // highest offset a commit was sent for
    int64_t confirmed = -1;  // highest offset the broker confirmed
    int64_t start = -1;      // where consumption starts, once known (lag before the first record)
    int64_t first = -1;      // first offset handed on since the assignment
    int64_t next = -1;       // last offset handed on + 1
    int64_t floor = -1;      // committable with nothing tracked (start recovered after a loss)
    int64_t txn_done = -1;   // exactly_once: offset the last committed transaction carried
    size_t stashed = 0;      // messages of this partition waiting in stash_
    bool paused_full = false;
    kafka::CrashMarks::Entry mark = 0;  // with marks_
    bool suspect = false;               // suspects or a poison record still to come
    bool paused_suspect = false;        // paused while other partitions replay suspects
  };
  static uint64_t key_of(core::TopicId topic, int32_t partition) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(topic)) << 32) |
           static_cast<uint32_t>(partition);
  }

  // RebalanceListener (source thread, inside Consumer::poll or close).
  void start_offsets(kafka::PartitionList& partitions) override;
  void on_assigned(const kafka::PartitionList& partitions) override;
  void on_revoked(const kafka::PartitionList& partitions, bool lost) override;
  void on_committed(const kafka::PartitionList& offsets, rd_kafka_resp_err_t err) override;

  Partition* find(const rd_kafka_message_t* m);
  Partition* find(const char* topic, int32_t partition);
  void open_crash_marks();
  // Suspect mode: one record in the pipeline at a time, each marked alone.
  Poll poll_suspects(core::Emitter& out);
  // Marks batch_'s offsets, per partition, before they are handed on; puts
  // back (seeks to) messages of partitions with suspects, for poll_suspects().
  void mark_batch();
  // Enters or leaves suspect mode as partitions with suspects come and go.
  void update_suspect_mode();
  void handle(kafka::MessagePtr m, core::Emitter& out);
  void emit(Partition& p, kafka::MessagePtr m, core::Emitter& out);
  void drain_stash(core::Emitter& out);
  void maintain();
  void apply_backpressure();
  void set_paused(std::vector<Partition*> const& parts, bool paused);
  // The offset to commit for `p` (-1: nothing).
  int64_t committable(Partition& p);
  // Commits every partition whose committable offset moved: asynchronously
  // (on_committed hears the result), or waiting up to `timeout` for the
  // broker and counting only what it confirmed.
  void commit_async(const std::vector<Partition*>& parts);
  void commit_sync(const std::vector<Partition*>& parts, std::chrono::milliseconds timeout);
  // Time left before shutdown()'s deadline (a default bound before a stop).
  std::chrono::milliseconds time_left(std::chrono::milliseconds otherwise) const;

  // exactly_once (kafka_source_transactions.cpp).
  // Starts, or finishes once nothing is in flight, the periodic commit.
  void maintain_transaction(core::TimePoint now);
  // Waits until none of the source's records is in flight; false on timeout.
  bool drain(std::chrono::milliseconds timeout);
  // Commits the open transaction with every partition's offset (nothing in
  // flight); on abort rewinds. Returns whether it committed.
  bool commit_transaction();
  // Aborts the open transaction and rewinds to the last committed offsets.
  void abort_transaction(std::string_view why);
  // Input records the open transaction covers.
  uint64_t transaction_records() const;
  // Moves every partition back to the offset after its last committed
  // transaction (or where its consumption started): forgets what was read since.
  void rewind();
  void on_revoked_transactional(const std::vector<Partition*>& parts, bool lost);
  void shutdown_transactional();
  std::vector<Partition*> all_partitions();
  void update_lag();
  // Stores: binds them to their changelogs (start()); restores / drops.
  void start_stores();
  void restore_state(const std::vector<Partition*>& parts);
  void revoke_state(const std::vector<Partition*>& parts);
  // At-least-once revocation with stores: waits (bounded) until none of the
  // partitions' records is in flight, so their state entries are durable.
  void drain_state_writes(const std::vector<Partition*>& parts);

  KafkaSourceOptions options_;
  kafka::InputDecoder decoder_;
  kafka::SourceProbe probe_;
  core::OffsetTracker tracker_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::unique_ptr<kafka::CrashMarks> marks_;  // null: the breaker is off
  bool suspect_mode_ = false;
  std::vector<kafka::MessagePtr> batch_;  // one poll burst, marked before it is handed on
  kafka::Output* output_ = nullptr;
  kafka::Transactions* transactions_ = nullptr;  // exactly_once, from output_ at start()
  bool txn_draining_ = false;                    // waiting for nothing in flight before a commit
  core::TimePoint txn_due_{};                    // the next periodic commit
  core::TimePoint txn_drain_since_{};
  std::unordered_map<uint64_t, Partition> partitions_;
  std::vector<std::pair<const rd_kafka_topic_t*, core::TopicId>> topic_ids_;  // message rkt → id
  Partition* last_ = nullptr;  // lookup cache; reset whenever partitions_ changes
  const rd_kafka_topic_t* last_rkt_ = nullptr;
  // Messages read after their partition's ring filled up (the pause takes
  // effect from the next fetch), emitted first once there is room.
  std::deque<kafka::MessagePtr> stash_;
  bool holding_ = false;  // above the high watermark: reading nothing
  // Holding longer than pause_after: partitions paused. Written by the source
  // thread only; atomic for partitions_paused().
  std::atomic<bool> paused_all_{false};
  // Readiness (not_ready()); written by the source thread.
  std::atomic<bool> assigned_{false};   // since the last assignment, unless lost since
  std::atomic<bool> brokers_up_{true};  // Consumer::brokers_reachable(), as of the last poll
  core::TimePoint hold_since_{};
  core::TimePoint next_commit_{};
  core::TimePoint commit_retry_at_{};
  core::TimePoint next_lag_{};
  core::TimePoint stop_seen_{};  // finish(): shutdown()'s deadline counts from here
  // Partitions lost (no commit possible) → the offset below which all was
  // done, for when the group gives them back (start_offsets).
  std::unordered_map<uint64_t, int64_t> lost_done_;
};

// Declares `type: kafka_source`.
void register_kafka_source(OperatorRegistry& registry);

}  // namespace sluice::operators
