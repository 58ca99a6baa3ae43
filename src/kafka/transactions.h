// Transactions: exactly-once delivery over the pipeline's shared producer
// (DESIGN.md §2), consume-transform-produce as in librdkafka's
// examples/transactions.c.
//
// One transactional producer per process, its transactional.id stable per
// instance: a restarted instance fences its predecessor, and the broker
// aborts what the predecessor left open. A transaction is open from start()
// on: every record produced through the producer (results, dead letters, and
// later the state store's changelog writes) belongs to the open transaction.
// The Kafka source decides when to commit (every transaction_interval, on
// revocation, at shutdown), always at a point where none of its records is in
// flight, and sends its input offsets with the transaction
// (send_offsets_to_transaction with the consumer's group metadata, KIP-447:
// a member that lost its partitions cannot commit offsets for them; Apache
// Kafka 2.5 or later).
//
// Errors: retriable → the call is repeated until its deadline; requires
// abort → the transaction is aborted, a new one begun, and commit() returns
// kAborted (the caller rewinds its consumer to the last committed offsets);
// fatal (fenced: another process uses this transactional.id; or the producer
// failed for good) → KafkaError, the pipeline fails and the process exits
// non-zero so that its orchestrator restarts it.
//
// The embedded broker (librdkafka's mock cluster) accepts this protocol but
// writes no commit/abort markers, does not filter read_committed, drops the
// offsets sent in a transaction and does not fence: tests there check this
// state machine and its error paths, not exactly-once itself.
//
// Threading: one thread (the Kafka source's) calls everything after start().
#pragma once
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <string_view>

#include "src/kafka/partition_list.h"
#include "src/kafka/transaction_probe.h"

namespace sluice::kafka {

class Transactions {
 public:
  enum class Result { kCommitted, kAborted };

  // `producer`: a client created with transactional.id (not owned).
  // `timeout`: the longest any one transactional call may take, retries
  // included (a broker outage longer than that is fatal).
  Transactions(rd_kafka_t* producer, TransactionProbe& probe, std::chrono::milliseconds timeout);

  // init_transactions (fences an earlier producer with this id) and begins
  // the first transaction. Throws KafkaError.
  void start();
  // Sends `offsets` (next offset to read, per partition) for the consumer
  // group `group`, commits, and begins the next transaction. `records`: the
  // input records the transaction covers (metrics). Throws KafkaError (fatal).
  // `timeout` (0: the constructor's) bounds it, retries included.
  Result commit(const PartitionList& offsets, const rd_kafka_consumer_group_metadata_t* group,
                uint64_t records, std::chrono::milliseconds timeout = {});
  // Aborts the open transaction (its records are discarded by read_committed
  // consumers) and begins the next. Throws KafkaError (fatal).
  void abort(uint64_t records, std::string_view why);
  // Aborts without beginning another (shutdown), within `timeout`. Never throws.
  void abort_last(uint64_t records, std::string_view why, std::chrono::milliseconds timeout);

  const TransactionProbe& probe() const { return probe_; }

 private:
  // Runs `call` again while its error is retriable, until the deadline.
  // Returns null or a non-retriable error (owned by the caller).
  template <typename Call>
  rd_kafka_error_t* retrying(Call&& call, std::chrono::steady_clock::time_point deadline);
  void begin();
  [[noreturn]] void fatal(std::string_view what, rd_kafka_error_t* error);

  rd_kafka_t* rk_;
  TransactionProbe& probe_;
  std::chrono::milliseconds timeout_;
};

}  // namespace sluice::kafka
