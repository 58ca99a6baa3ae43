// KeyedStore: one stage's keyed state, partitioned like the input (DESIGN.md
// §2): values per key per input partition, persisted to a compacted
// changelog topic, restored before a partition is processed, dropped when it
// is revoked.
//
// Who holds what. The operator's own state object holds the values (decoded,
// in its own structures) and changes them only through put()/erase() here,
// which write the changelog entry and keep, per key, the input offset last
// applied. The store's memory is therefore one map entry (key, offset) per
// live key per owned partition; the values' memory is the operator's, bounded
// by its own limits (window_aggregate: max_keys per partition). Kafka is the
// source of truth: nothing is kept on local disk, and a restart or a new
// owner rebuilds from the changelog.
//
// Exactly-once state under at-least-once delivery: every entry carries the
// input offset applied so far in its partition (the record that caused it,
// or for a change driven by time the last record applied). All entries of
// input partition p go, in order, to changelog partition p through one
// idempotent producer, so what a restore reads back is a prefix of what was
// written: every record at or below the partition's highest applied offset
// has all its effects in the restored state. applied(p, offset) therefore
// says exactly that a re-delivered record must change nothing. (A record that
// changed nothing, e.g. a late one, writes nothing and is simply processed
// again: it changes nothing again.)
//
// Keys and the partition entry. Operator keys are written with a 'k' prefix;
// the key "m" holds the partition's own payload (window_aggregate: its event
// clock), so that what the partition knows survives when every key is
// deleted (tombstones carry no offset).
//
// Hand-over between threads. Restores run on the source thread (which holds
// a newly assigned partition until its restore is posted, see
// operators/kafka_source.cpp); the operator's worker takes them over in
// sync(), before it processes any record of that partition: the post happens
// before the source reads the partition's first record, and that record
// reaches the worker through the pipeline's queues (release/acquire), so the
// worker's sync() sees the post. Revocations are posted the same way; a
// record of a partition the worker does not own (in flight at a revocation)
// changes no state and writes nothing.
//
// Threading: post_*() from the source thread; everything else from the
// stage's single worker. sync() costs one atomic load when nothing is posted.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "src/core/ack.h"
#include "src/state/state_probe.h"

namespace sluice::state {

// Writes changelog records: Kafka (KafkaChangelog) or memory (tests).
class ChangelogWriter {
 public:
  virtual ~ChangelogWriter() = default;
  // One record to changelog partition `partition`: key, and value bytes or
  // nullopt (a tombstone). `ack` (may be empty) completes once it is durable.
  // Throws on a failed producer (fatal, as for any output).
  virtual void write(int32_t partition, std::string_view key, std::optional<std::string_view> value,
                     core::Ack ack) = 0;
  // Waits until every record written so far is durable; false on timeout.
  virtual bool flush(std::chrono::milliseconds timeout) = 0;
};

// A partition's state as read back from its changelog: the live keys, each
// with its last entry's payload and applied offset.
struct PartitionSnapshot {
  std::unordered_map<std::string, std::string> keys;  // operator key → payload
  std::optional<std::string> partition_payload;       // put_partition()'s, if any
  int64_t applied_offset = -1;                        // highest over the entries read
  uint64_t records = 0;                               // changelog records read
  uint64_t bytes = 0;                                 // their key and value bytes
  uint64_t bad = 0;    // records skipped: not sluice entries (logged)
  double seconds = 0;  // how long reading took

  // Folds one changelog record in (log order): a tombstone deletes the key,
  // an entry replaces its value; bytes sluice did not write are skipped,
  // counted in `bad` and logged (a changelog is input like any other).
  void fold(std::string_view key, std::optional<std::string_view> value);
};

class KeyedStore {
 public:
  // `probe_registry` may be null. Not bound to a changelog until bind().
  KeyedStore(std::string stage, metrics::Registry* probe_registry, const std::string& pipeline);
  KeyedStore(const KeyedStore&) = delete;
  KeyedStore& operator=(const KeyedStore&) = delete;

  const std::string& stage() const { return stage_; }
  StateProbe& probe() { return probe_; }

  // Where entries go (not owned; set before the pipeline's records flow).
  void bind(ChangelogWriter* writer) { writer_ = writer; }

  // --- source thread ---
  void post_restored(int32_t partition, PartitionSnapshot snapshot);
  void post_revoked(int32_t partition);

  // --- the stage's worker ---
  // Takes over what was posted, in order: on_restored(partition, snapshot)
  // after the store adopted the offsets; on_revoked(partition) after it
  // dropped them.
  template <typename OnRestored, typename OnRevoked>
  void sync(OnRestored&& on_restored, OnRevoked&& on_revoked) {
    if (!pending_.load(std::memory_order_acquire)) return;
    for (Post& post : take_posts()) {
      if (post.restored) {
        adopt(post.partition, *post.restored);
        on_restored(post.partition, *post.restored);
      } else {
        drop(post.partition);
        on_revoked(post.partition);
      }
    }
  }
  bool owns(int32_t partition) const { return partitions_.count(partition) != 0; }
  // Whether input `offset` of `partition` is already applied (a re-delivery).
  bool applied(int32_t partition, int64_t offset) const;
  // The partition's highest applied input offset; -1 if none (or not owned).
  int64_t applied_offset(int32_t partition) const;
  // Sets the key's value, for input record `offset` (-1: a change driven by
  // time, not by a record); writes its entry. `ack` (may be empty) completes
  // when the entry is durable. The partition must be owned.
  void put(int32_t partition, std::string_view key, std::string_view payload, int64_t offset,
           core::Ack ack);
  // Deletes the key (a tombstone).
  void erase(int32_t partition, std::string_view key, int64_t offset, core::Ack ack);
  // Sets the partition's own payload (see the top of this file).
  void put_partition(int32_t partition, std::string_view payload, int64_t offset, core::Ack ack);
  size_t keys() const { return keys_; }
  // Waits until every entry written so far is durable; false on timeout.
  bool flush(std::chrono::milliseconds timeout) { return writer_ && writer_->flush(timeout); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Owned {
    int64_t applied = -1;
    std::unordered_map<std::string, char, Hash, std::equal_to<>> keys;  // live keys
  };
  struct Post {
    int32_t partition;
    std::optional<PartitionSnapshot> restored;  // nullopt: revoked
  };
  std::vector<Post> take_posts();
  void adopt(int32_t partition, const PartitionSnapshot& snapshot);
  void drop(int32_t partition);
  Owned& owned(int32_t partition);
  void write(Owned& p, int32_t partition, std::string_view key,
             std::optional<std::string_view> payload, core::Ack ack);

  std::string stage_;
  StateProbe probe_;
  ChangelogWriter* writer_ = nullptr;
  std::unordered_map<int32_t, Owned> partitions_;  // owned partitions (worker)
  size_t keys_ = 0;
  std::string scratch_;      // entry bytes, reused
  std::string key_scratch_;  // prefixed key, reused
  std::mutex mu_;
  std::vector<Post> posts_;  // guarded by mu_
  std::atomic<bool> pending_{false};
};

}  // namespace sluice::state
