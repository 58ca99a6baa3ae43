// KafkaSource, exactly-once side (src/kafka/transactions.h): when and how the
// open transaction is committed with the input offsets, aborted, and the
// consumer rewound. The rest is in kafka_source.cpp.
#include <memory>
#include <thread>

#include "operators/kafka_source.h"
#include "src/core/log.h"
#include "src/kafka/error.h"

namespace sluice::operators {
namespace {

// Records still in flight this long after a transaction was due: a stage
// holds them (window_aggregate keeps its records until their window closes).
constexpr std::chrono::seconds kTxnDrainTimeout{60};
// A revocation waits this long for the revoked partitions' records.
constexpr std::chrono::seconds kRevokeDrainTimeout{30};

struct GroupMetadataDeleter {
  void operator()(rd_kafka_consumer_group_metadata_t* m) const {
    rd_kafka_consumer_group_metadata_destroy(m);
  }
};

}  // namespace

uint64_t KafkaSource::transaction_records() const {
  uint64_t n = 0;
  for (const auto& [k, p] : partitions_) {
    const int64_t base = p.txn_done >= 0 ? p.txn_done : p.first;
    if (base >= 0 && p.next > base) n += static_cast<uint64_t>(p.next - base);
  }
  return n;
}

void KafkaSource::maintain_transaction(core::TimePoint now) {
  if (!txn_draining_) {
    // Not while the group generation changes: the offsets carry it (KIP-447).
    if (now < txn_due_ || transaction_records() == 0 || consumer_->rebalancing()) return;
    txn_draining_ = true;  // poll() reads nothing until the commit
    txn_drain_since_ = now;
  }
  if (tracker_.in_flight() > 0) {  // maintain() has released what is done
    if (now - txn_drain_since_ > kTxnDrainTimeout) {
      throw kafka::KafkaError(
          "kafka source: exactly_once: " + std::to_string(tracker_.in_flight()) +
          " records still in flight " + std::to_string(kTxnDrainTimeout.count()) +
          " s after the transaction was due: a stage holds them (window_aggregate keeps its "
          "records until their windows close; exactly-once windows need the state store)");
    }
    return;
  }
  if (consumer_->rebalancing()) return;
  commit_transaction();
  txn_draining_ = false;
  txn_due_ = core::SteadyClock::now() + options_.transaction_interval;
}

bool KafkaSource::drain(std::chrono::milliseconds timeout) {
  const auto deadline = core::SteadyClock::now() + timeout;
  for (;;) {
    for (auto& [k, p] : partitions_) tracker_.committable(p.slot);
    if (tracker_.in_flight() == 0) return true;
    if (core::SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

bool KafkaSource::commit_transaction() {
  kafka::PartitionList offsets(static_cast<int>(partitions_.size()) + 1);
  std::vector<Partition*> carried;
  for (auto& [k, p] : partitions_) {
    const int64_t c = committable(p);  // nothing in flight: the last record handed on + 1
    if (c < 0 || c <= p.txn_done) continue;
    offsets.add(p.topic_name, p.partition, c);
    carried.push_back(&p);
  }
  if (offsets.empty()) return true;  // nothing read since: the open transaction stays open
  const uint64_t records = transaction_records();
  std::unique_ptr<rd_kafka_consumer_group_metadata_t, GroupMetadataDeleter> group(
      consumer_->group_metadata());
  const auto timeout = time_left(std::chrono::milliseconds(0));  // 0 before a stop: no bound
  const auto result = transactions_->commit(offsets, group.get(), records, timeout);
  if (result == kafka::Transactions::Result::kAborted) {
    rewind();
    return false;
  }
  for (size_t i = 0; i < carried.size(); ++i) {
    Partition* p = carried[i];
    p->txn_done = offsets[static_cast<int>(i)].offset;
    p->confirmed = p->sent = p->txn_done;
    p->probe->set_committed(p->txn_done);
  }
  return true;
}

void KafkaSource::abort_transaction(std::string_view why) {
  transactions_->abort(transaction_records(), why);
  rewind();
}

void KafkaSource::rewind() {
  // Where each partition was read from since its last committed transaction
  // (stashed and in-burst messages included: they are read again too).
  std::unordered_map<uint64_t, int64_t> dropped;
  auto note = [&](const kafka::MessagePtr& m) {
    if (Partition* p = find(m.get())) {
      auto [it, fresh] = dropped.emplace(key_of(p->topic, p->partition), m->offset);
      if (!fresh) it->second = std::min(it->second, m->offset);
    }
  };
  for (const auto& m : stash_) note(m);
  for (const auto& m : batch_) note(m);
  stash_.clear();
  batch_.clear();
  kafka::PartitionList seek(static_cast<int>(partitions_.size()) + 1);
  std::vector<Partition*> resume;
  for (auto& [k, p] : partitions_) {
    const int64_t base = p.txn_done >= 0 ? p.txn_done : p.first;
    int64_t target = base >= 0 && p.next > base ? base : -1;
    if (auto it = dropped.find(k); it != dropped.end() && (target < 0 || it->second < target))
      target = it->second;
    p.stashed = 0;
    if (p.paused_full) {
      p.paused_full = false;
      if (!paused_all_ && !p.paused_suspect) resume.push_back(&p);
    }
    if (target < 0) continue;
    seek.add(p.topic_name, p.partition, target);
    tracker_.close(p.slot);  // offsets go back: track afresh
    p.slot = tracker_.open();
    p.next = target;
    if (marks_) {
      marks_->revoke(p.mark);
      p.mark = marks_->assign(p.topic_name, p.partition);
    }
  }
  last_ = nullptr;
  consumer_->seek(seek);
  set_paused(resume, false);
  core::log_info("kafka source: rewound ", seek.size(),
                 " partition(s) to the offsets of the last committed transaction");
}

void KafkaSource::on_revoked_transactional(const std::vector<Partition*>& parts, bool lost) {
  if (!transactions_ || parts.empty()) return;  // closed (shutdown), or nothing of ours
  // The revoked partitions' outputs and offsets go in one transaction, before
  // their next owner starts at those offsets: wait until nothing is in flight.
  if (!drain(kRevokeDrainTimeout)) {
    abort_transaction("records still in flight when partitions were revoked");
  } else if (lost) {
    // Another member may own them already; the group would refuse the offsets.
    abort_transaction("partitions lost");
  } else {
    commit_transaction();
  }
  txn_draining_ = false;
  txn_due_ = core::SteadyClock::now() + options_.transaction_interval;
}

void KafkaSource::shutdown_transactional() {
  if (!transactions_) return;
  for (auto& [k, p] : partitions_) tracker_.committable(p.slot);
  try {
    if (tracker_.in_flight() == 0) {
      commit_transaction();
    } else {
      // Aborted with records in flight: some of their outputs may be in the
      // transaction, their offsets cannot be.
      transactions_->abort_last(transaction_records(),
                                "the pipeline stopped with records in flight",
                                time_left(options_.shutdown_timeout));
    }
  } catch (const std::exception& e) {
    core::log_error("kafka source: final transaction: ", e.what(),
                    " (its records are read again after a restart)");
  }
  transactions_ = nullptr;
}

}  // namespace sluice::operators
