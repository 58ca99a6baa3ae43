#include "operators/kafka_source.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "operators/kafka_services.h"
#include "operators/pipeline_sections.h"
#include "src/config/load.h"
#include "src/core/clock.h"
#include "src/core/dead_letter.h"
#include "src/core/emitter.h"
#include "src/core/log.h"
#include "src/kafka/error.h"

namespace sluice::operators {
namespace {

constexpr int kBurst = 256;  // messages read per poll() before housekeeping
// A commit on revocation runs inside the rebalance: long enough for a busy
// broker, short against the rebalance timeout (max.poll.interval.ms).
constexpr std::chrono::seconds kRevokeCommitTimeout{10};
// Stateful pipelines: how long a revocation waits for the revoked partitions'
// records (and so their state entries) to be done (drain_state_writes()).
constexpr std::chrono::seconds kStateRevokeDrain{5};
// Count-triggered commits: at most one per gap, and a pause after a failure
// (a coordinator that is away must not be asked at every poll).
constexpr std::chrono::milliseconds kCommitGap{5};
constexpr std::chrono::milliseconds kCommitRetryPause{200};
// shutdown() ends this long before its deadline: what follows it (closing
// the producer, the process's exit) takes a moment.
constexpr std::chrono::milliseconds kExitMargin{300};
// shutdown(): time kept for the final commit and leaving the group.
constexpr std::chrono::seconds kSettleReserve{1};
// The committed offsets of partitions given back after a loss.
constexpr std::chrono::seconds kCommittedQueryTimeout{5};

core::OffsetTracker make_tracker(const KafkaSourceOptions& o) {
  // A single partition may hold everything in flight, plus what is read
  // between two housekeeping passes.
  return core::OffsetTracker(o.high_watermark + kBurst, o.max_partitions);
}

const KafkaSourceOptions& checked(const KafkaSourceOptions& o) {
  if (o.topics.empty())
    throw std::invalid_argument("kafka source: topics: at least one topic is required");
  if (o.high_watermark == 0)
    throw std::invalid_argument("kafka source: high_watermark must be positive");
  if (o.low_watermark >= o.high_watermark) {
    throw std::invalid_argument("kafka source: low_watermark (" + std::to_string(o.low_watermark) +
                                ") must be below high_watermark (" +
                                std::to_string(o.high_watermark) + ")");
  }
  if (o.pause_after.count() < 0)
    throw std::invalid_argument("kafka source: pause_after must not be negative");
  if (o.commit_interval.count() <= 0)
    throw std::invalid_argument("kafka source: commit_interval must be positive");
  return o;
}

}  // namespace

KafkaSource::KafkaSource(KafkaSourceOptions options)
    : options_(checked(options)),
      decoder_(options_.format),
      probe_(options_.metrics, options_.pipeline),
      tracker_(make_tracker(options_)) {}

KafkaSource::~KafkaSource() {
  stash_.clear();  // messages before their consumer
}

void KafkaSource::start() {
  if (!options_.crash_marks_dir.empty()) open_crash_marks();
  if (output_) output_->start();
  if (options_.exactly_once) {
    transactions_ = output_ ? output_->transactions() : nullptr;
    if (!transactions_)
      throw kafka::KafkaError("kafka source: exactly_once needs the transactional output");
    txn_due_ = core::SteadyClock::now() + options_.transaction_interval;
  }
  consumer_ = std::make_unique<kafka::Consumer>(options_.consumer,
                                                static_cast<kafka::RebalanceListener*>(this));
  start_stores();
  consumer_->subscribe(options_.topics);
  next_commit_ = core::SteadyClock::now() + options_.commit_interval;
  next_lag_ = core::SteadyClock::now() + options_.lag_interval;
  std::string topics;
  for (const auto& t : options_.topics) topics += (topics.empty() ? "" : ",") + t;
  core::log_info("kafka source: group '", options_.consumer.group_id, "' subscribed to ", topics,
                 " at ", options_.consumer.bootstrap_servers);
}

core::Source::Poll KafkaSource::poll(core::Emitter& out) {
  drain_stash(out);
  if (suspect_mode_) return poll_suspects(out);
  if ((holding_ && !paused_all_) || txn_draining_) {
    // Read nothing until deliveries bring the in-flight count down (acks
    // complete on other threads; a short sleep is cheaper than a wake-up
    // per ack, and 1 ms is a few hundred records at full speed).
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    maintain();
    return Poll::kIdle;
  }
  // While paused nothing arrives; poll briefly so resuming is prompt.
  const auto first_wait = paused_all_ ? std::chrono::milliseconds(10) : options_.poll_timeout;
  // Read a burst, mark it, then hand it on: a death while any of it is in
  // flight finds it marked. An assignment that brings suspects ends the burst.
  while (batch_.size() < static_cast<size_t>(kBurst) && !out.stopping() && !suspect_mode_) {
    kafka::MessagePtr m =
        consumer_->poll(batch_.empty() ? first_wait : std::chrono::milliseconds(0));
    if (!m) break;
    batch_.push_back(std::move(m));
  }
  if (marks_) mark_batch();
  const size_t n = batch_.size();
  for (kafka::MessagePtr& m : batch_) handle(std::move(m), out);
  batch_.clear();
  maintain();
  return n > 0 ? Poll::kEmitted : Poll::kIdle;
}

KafkaSource::Partition* KafkaSource::find(const char* topic, int32_t partition) {
  auto it = partitions_.find(key_of(core::intern_topic(topic), partition));
  return it == partitions_.end() ? nullptr : &it->second;
}

KafkaSource::Partition* KafkaSource::find(const rd_kafka_message_t* m) {
  // Messages come in runs from one partition: check the last one first.
  if (last_ && last_rkt_ == m->rkt && last_->partition == m->partition) return last_;
  core::TopicId id = core::kNoTopic;
  for (const auto& [rkt, tid] : topic_ids_) {
    if (rkt == m->rkt) {
      id = tid;
      break;
    }
  }
  if (id == core::kNoTopic) {
    id = core::intern_topic(rd_kafka_topic_name(m->rkt));
    topic_ids_.emplace_back(m->rkt, id);
  }
  auto it = partitions_.find(key_of(id, m->partition));
  last_ = it == partitions_.end() ? nullptr : &it->second;
  last_rkt_ = m->rkt;
  return last_;
}

void KafkaSource::handle(kafka::MessagePtr m, core::Emitter& out) {
  Partition* p = find(m.get());
  if (!p) return;  // no longer ours: its new owner reads it from the committed offset
  if (p->stashed > 0 || tracker_.full(p->slot)) {
    ++p->stashed;  // keeps the partition's order behind what is already stashed
    stash_.push_back(std::move(m));
    if (!p->paused_full) {
      p->paused_full = true;
      set_paused({p}, true);
    }
    return;
  }
  emit(*p, std::move(m), out);
}

void KafkaSource::emit(Partition& p, kafka::MessagePtr m, core::Emitter& out) {
  rd_kafka_message_t* raw = m.release();
  std::optional<std::string_view> key;
  if (raw->key) key = std::string_view(static_cast<const char*>(raw->key), raw->key_len);
  std::string_view value = raw->payload
                               ? std::string_view(static_cast<const char*>(raw->payload), raw->len)
                               : std::string_view();
  core::Record r = core::Record::borrowed(core::Lease(raw, &kafka::destroy_message), key, value);
  r.source_topic = p.topic;
  r.partition = raw->partition;
  r.offset = raw->offset;
  r.timestamp_ms = rd_kafka_message_timestamp(raw, nullptr);
  r.ingest_ns = core::now_ns();
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(raw, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
    const size_t n = rd_kafka_header_cnt(hdrs);
    r.headers.reserve(n);
    const char* name;
    const void* val;
    size_t size;
    for (size_t i = 0;
         rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
      r.headers.push_back(
          {name, val ? std::string(static_cast<const char*>(val), size) : std::string()});
    }
  }
  r.ack = core::Ack(&tracker_, tracker_.track(p.slot, raw->offset));
  if (p.first < 0) p.first = raw->offset;
  p.next = raw->offset + 1;
  p.probe->on_consumed();
  // Before decoding: the decoder may be what kills the process.
  if (p.suspect && marks_->arriving(p.mark, raw->offset) == kafka::CrashMarks::Verdict::kPoison) {
    const std::string deaths = std::to_string(marks_->deaths(p.mark));
    core::log_warn("kafka source: ", p.topic_name, "/", p.partition, " offset ", raw->offset,
                   " was in flight at ", deaths, " deaths of the process: dead-lettered as poison");
    r.headers.push_back({"sluice.crash.count", deaths});
    probe_.on_poison_record();
    out.dead_letter(std::move(r), core::dead_letter_code::kPoisonCrash,
                    "in flight when the process died " + deaths +
                        " times, the last time alone in the pipeline (crash-loop breaker)");
    return;
  }
  if (options_.shed && r.timestamp_ms >= 0 &&
      core::wall_ms() - r.timestamp_ms > options_.latency_objective.count()) {
    probe_.on_shed_record();
    out.dead_letter(std::move(r), core::dead_letter_code::kOverload,
                    "older than the latency objective (" +
                        std::to_string(options_.latency_objective.count()) +
                        " ms) when read: shed (overload policy)");
    return;
  }
  if (auto err = decoder_.decode(r)) {
    out.dead_letter(std::move(r), err->code, err->detail);
  } else {
    out.emit(std::move(r));
  }
}

void KafkaSource::drain_stash(core::Emitter& out) {
  while (!stash_.empty()) {
    Partition* p = find(stash_.front().get());
    if (!p) {  // revoked meanwhile
      stash_.pop_front();
      continue;
    }
    if (tracker_.full(p->slot)) {
      tracker_.committable(p->slot);  // releases what is done
      if (tracker_.full(p->slot)) return;
    }
    kafka::MessagePtr m = std::move(stash_.front());
    stash_.pop_front();
    --p->stashed;
    emit(*p, std::move(m), out);
  }
}

std::vector<KafkaSource::Partition*> KafkaSource::all_partitions() {
  std::vector<Partition*> v;
  v.reserve(partitions_.size());
  for (auto& [k, p] : partitions_) v.push_back(&p);
  return v;
}

void KafkaSource::set_paused(const std::vector<Partition*>& parts, bool paused) {
  if (parts.empty()) return;
  kafka::PartitionList list(static_cast<int>(parts.size()));
  for (const Partition* p : parts) list.add(p->topic_name, p->partition);
  if (paused) {
    consumer_->pause(list);
  } else {
    consumer_->resume(list);
  }
}

void KafkaSource::maintain() {
  brokers_up_.store(consumer_->brokers_reachable(), std::memory_order_relaxed);
  // Release what is done (one load per partition when nothing is), and count
  // what is done and not yet committed.
  size_t uncommitted = 0;
  for (auto& [k, p] : partitions_) {
    const int64_t done = tracker_.committable(p.slot);
    if (marks_) marks_->done_below(p.mark, done);
    const int64_t base = p.sent >= 0 ? p.sent : p.first;
    if (done > base && base >= 0) uncommitted += static_cast<size_t>(done - base);
  }
  if (suspect_mode_) update_suspect_mode();
  apply_backpressure();
  const auto now = core::SteadyClock::now();
  const bool by_count = options_.commit_records > 0 && uncommitted >= options_.commit_records &&
                        now >= commit_retry_at_;
  if (options_.exactly_once) {
    if (transactions_) maintain_transaction(now);
  } else if ((now >= next_commit_ || by_count) && !consumer_->rebalancing()) {
    // While the generation changes the commit waits (see the top of the header).
    commit_async(all_partitions());
    next_commit_ = now + options_.commit_interval;
    commit_retry_at_ = now + kCommitGap;
  }
  if (now >= next_lag_) {
    update_lag();
    next_lag_ = now + options_.lag_interval;
  }
}

void KafkaSource::apply_backpressure() {
  // A partition paused because its ring was full resumes once it has room
  // (unless everything is paused).
  std::vector<Partition*> resume;
  for (auto& [k, p] : partitions_) {
    if (p.paused_full && p.stashed == 0 && !tracker_.full(p.slot)) {
      p.paused_full = false;
      if (!paused_all_ && !p.paused_suspect) resume.push_back(&p);
    }
  }
  set_paused(resume, false);

  const size_t in_flight = tracker_.in_flight();
  if (!holding_ && in_flight >= options_.high_watermark) {
    holding_ = true;
    hold_since_ = core::SteadyClock::now();
    probe_.set_paused(true);
    core::log_debug("kafka source: ", in_flight, " records in flight, holding");
  } else if (holding_ && in_flight <= options_.low_watermark) {
    holding_ = false;
    probe_.set_paused(false);
    if (paused_all_) {
      paused_all_ = false;
      std::vector<Partition*> parts;
      for (auto& [k, p] : partitions_)
        if (!p.paused_full && !p.paused_suspect) parts.push_back(&p);
      set_paused(parts, false);
    }
    core::log_debug("kafka source: ", in_flight, " records in flight, resuming");
  }
  if (holding_ && !paused_all_ && core::SteadyClock::now() - hold_since_ >= options_.pause_after) {
    paused_all_ = true;
    set_paused(all_partitions(), true);
    core::log_debug("kafka source: held for ", options_.pause_after.count(),
                    " ms, pausing the partitions");
  }
}

int64_t KafkaSource::committable(Partition& p) {
  const int64_t c = tracker_.committable(p.slot);
  return c >= 0 ? c : p.floor;
}

void KafkaSource::commit_async(const std::vector<Partition*>& parts) {
  kafka::PartitionList list(static_cast<int>(parts.size()) + 1);
  for (Partition* p : parts) {
    const int64_t c = committable(*p);
    if (c < 0 || c <= p->sent) continue;
    list.add(p->topic_name, p->partition, c);
    p->sent = c;
  }
  if (!list.empty()) consumer_->commit_async(list);
}

void KafkaSource::commit_sync(const std::vector<Partition*>& parts,
                              std::chrono::milliseconds timeout) {
  kafka::PartitionList list(static_cast<int>(parts.size()) + 1);
  for (Partition* p : parts) {
    const int64_t c = committable(*p);
    if (c < 0 || c <= p->confirmed) continue;
    list.add(p->topic_name, p->partition, c);
    p->sent = std::max(p->sent, c);
  }
  if (list.empty()) return;
  rd_kafka_resp_err_t err = consumer_->commit_sync(list, timeout);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    core::log_warn("kafka source: commit failed: ", kafka::error_name(err),
                   " (records after the last commit will be read again)");
  }
  on_committed(list, err);
}

void KafkaSource::on_committed(const kafka::PartitionList& offsets, rd_kafka_resp_err_t err) {
  bool failed = false;
  for (const rd_kafka_topic_partition_t& tp : offsets) {
    Partition* p = find(tp.topic, tp.partition);
    if (!p) continue;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && tp.err == RD_KAFKA_RESP_ERR_NO_ERROR &&
        tp.offset >= 0) {
      if (tp.offset > p->confirmed) {
        p->confirmed = tp.offset;
        p->probe->set_committed(tp.offset);
      }
    } else {
      p->sent = p->confirmed;  // resend with the next commit
      failed = true;
    }
  }
  if (failed) commit_retry_at_ = core::SteadyClock::now() + kCommitRetryPause;
}

void KafkaSource::update_lag() {
  if (partitions_.empty()) return;
  kafka::PartitionList list(static_cast<int>(partitions_.size()));
  for (auto& [k, p] : partitions_) list.add(p.topic_name, p.partition);
  consumer_->positions(list);
  // A partition nothing was read from yet has no position: its lag counts
  // from where consumption starts (the committed offset, else the reset
  // policy's end), asked of the group coordinator once.
  // Watermarks are cached from fetch responses; a partition not fetched from
  // yet (paused early under backpressure, or not reached) has none: ask its leader.
  auto watermarks = [this](const rd_kafka_topic_partition_t& tp, int64_t* low, int64_t* high) {
    return consumer_->watermarks(tp.topic, tp.partition, low, high) ||
           consumer_->query_watermarks(tp.topic, tp.partition, low, high,
                                       std::chrono::milliseconds(500));
  };
  kafka::PartitionList unknown;
  for (const rd_kafka_topic_partition_t& tp : list) {
    Partition* p = find(tp.topic, tp.partition);
    if (p && p->confirmed < 0 && p->start < 0) unknown.add(tp.topic, tp.partition);
  }
  if (!unknown.empty() && consumer_->committed(unknown, std::chrono::milliseconds(2000))) {
    for (const rd_kafka_topic_partition_t& tp : unknown) {
      Partition* p = find(tp.topic, tp.partition);
      int64_t low = 0, high = 0;
      if (!p || !watermarks(tp, &low, &high)) continue;
      p->start = tp.offset >= 0 ? tp.offset
                                : (options_.consumer.auto_offset_reset == "latest" ? high : low);
    }
  }
  for (const rd_kafka_topic_partition_t& tp : list) {
    Partition* p = find(tp.topic, tp.partition);
    int64_t low = 0, high = 0;
    if (!p || !watermarks(tp, &low, &high)) continue;
    int64_t position = tp.offset >= 0 ? tp.offset : p->confirmed >= 0 ? p->confirmed : p->start;
    if (position >= 0) p->probe->set_lag(std::max<int64_t>(0, high - position));
    // Committed: what this member confirmed, else where it started (the
    // group's committed offset, or the reset policy's end when none).
    const int64_t committed = p->confirmed >= 0 ? p->confirmed
                              : p->start >= 0   ? p->start
                                                : p->first;
    if (committed >= 0) p->probe->set_commit_lag(std::max<int64_t>(0, high - committed));
  }
}

void KafkaSource::start_offsets(kafka::PartitionList& partitions) {
  if (lost_done_.empty()) return;
  kafka::PartitionList back;
  for (const rd_kafka_topic_partition_t& tp : partitions) {
    if (lost_done_.count(key_of(core::intern_topic(tp.topic), tp.partition)))
      back.add(tp.topic, tp.partition);
  }
  if (back.empty()) return;
  // Start after what was done before the loss, unless the group committed
  // further meanwhile (another member had the partition): never go back.
  const bool known = consumer_->committed(back, kCommittedQueryTimeout);
  for (const rd_kafka_topic_partition_t& tp : back) {
    const uint64_t key = key_of(core::intern_topic(tp.topic), tp.partition);
    const int64_t done = lost_done_[key];
    lost_done_.erase(key);
    if (!known || tp.offset >= done) continue;
    for (int i = 0; i < partitions.size(); ++i) {
      if (partitions[i].partition == tp.partition &&
          std::strcmp(partitions[i].topic, tp.topic) == 0)
        partitions[i].offset = done;
    }
    core::log_info("kafka source: ", tp.topic, "/", tp.partition,
                   " is back after a loss: resuming at ", done, " (done before the loss), not at ",
                   tp.offset >= 0 ? "the committed " + std::to_string(tp.offset)
                                  : std::string("the start (nothing committed)"));
  }
}

void KafkaSource::start_stores() {
  if (!options_.stores || options_.stores->empty()) return;
  if (options_.topics.size() != 1 || options_.topics[0].starts_with("^"))
    throw std::invalid_argument(
        "kafka source: stateful stages need exactly one input topic, named (not a regex): "
        "changelog partition p holds the state of input partition p");
  const std::string& topic = options_.topics[0];
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(consumer_->handle(), topic.c_str(), nullptr);
  rd_kafka_resp_err_t err = rd_kafka_metadata(consumer_->handle(), 0, rkt, &md, 10000);
  rd_kafka_topic_destroy(rkt);
  kafka::check(err, "kafka source: metadata of " + topic);
  int partitions = 0;
  rd_kafka_resp_err_t topic_err = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
  if (md->topic_cnt == 1) {
    partitions = md->topics[0].partition_cnt;
    topic_err = md->topics[0].err;
  }
  rd_kafka_metadata_destroy(md);
  if (topic_err != RD_KAFKA_RESP_ERR_NO_ERROR || partitions <= 0)
    throw kafka::KafkaError(topic_err, "kafka source: input topic " + topic +
                                           " (its partition count sizes the state changelogs): " +
                                           kafka::error_name(topic_err));
  options_.stores->start(options_.consumer.bootstrap_servers, options_.consumer.group_id,
                         options_.consumer.properties, partitions, std::chrono::seconds(30));
}

void KafkaSource::restore_state(const std::vector<Partition*>& parts) {
  if (!options_.stores || options_.stores->empty() || parts.empty()) return;
  std::vector<int32_t> ids;
  for (const Partition* p : parts) ids.push_back(p->partition);
  // Inside the assignment callback: no record of these partitions is read
  // (or handed on) before their state is posted to the stateful stages.
  options_.stores->restore(ids, options_.restore_timeout);
}

void KafkaSource::drain_state_writes(const std::vector<Partition*>& parts) {
  if (!options_.stores || options_.stores->empty() || parts.empty()) return;
  // A record of a revoked partition still in the pipeline would have its
  // stage write a state entry after the next owner restored the partition,
  // and that stale entry could later overwrite the new owner's. A record's
  // Ack waits for its entry, so once none of the partitions' records is in
  // flight their entries are durable: wait for that, a bounded time (the
  // source reads nothing meanwhile, so the pipeline drains).
  const auto deadline = core::SteadyClock::now() + time_left(kStateRevokeDrain);
  for (;;) {
    size_t in_flight = 0;
    for (Partition* p : parts) {
      tracker_.committable(p->slot);
      in_flight += tracker_.in_flight(p->slot);
    }
    if (in_flight == 0) return;
    if (core::SteadyClock::now() >= deadline) {
      core::log_warn("kafka source: ", in_flight,
                     " records of revoked partitions still in flight; their state entries may "
                     "land after the next owner's restore");
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void KafkaSource::revoke_state(const std::vector<Partition*>& parts) {
  if (!options_.stores || options_.stores->empty() || parts.empty()) return;
  std::vector<int32_t> ids;
  for (const Partition* p : parts) ids.push_back(p->partition);
  options_.stores->revoke(ids);
}

void KafkaSource::on_assigned(const kafka::PartitionList& partitions) {
  assigned_.store(true, std::memory_order_relaxed);
  std::vector<Partition*> added;
  for (const rd_kafka_topic_partition_t& tp : partitions) {
    core::TopicId id = core::intern_topic(tp.topic);
    uint64_t key = key_of(id, tp.partition);
    if (partitions_.count(key)) continue;
    Partition p{id, tp.topic, tp.partition, tracker_.open(),
                probe_.partition(tp.topic, tp.partition)};
    if (tp.offset >= 0) p.floor = tp.offset;  // recovered after a loss: commit it
    if (marks_) {
      p.mark = marks_->assign(tp.topic, tp.partition);
      p.suspect = marks_->careful(p.mark);
    }
    added.push_back(&partitions_.emplace(key, std::move(p)).first->second);
  }
  last_ = nullptr;
  restore_state(added);
  if (marks_) update_suspect_mode();  // pauses the others while any partition has suspects
  // Apply the current backpressure state explicitly: a partition paused
  // before it was last revoked must not stay paused (or vice versa).
  std::erase_if(added, [](const Partition* p) { return p->paused_suspect; });
  set_paused(added, paused_all_);
}

void KafkaSource::on_revoked(const kafka::PartitionList& partitions, bool lost) {
  if (lost) assigned_.store(false, std::memory_order_relaxed);  // out of the group until rejoined
  std::vector<Partition*> parts;
  for (const rd_kafka_topic_partition_t& tp : partitions) {
    if (Partition* p = find(tp.topic, tp.partition)) parts.push_back(p);
  }
  if (options_.exactly_once) {
    on_revoked_transactional(parts, lost);
  } else if (!lost) {
    drain_state_writes(parts);
    commit_sync(parts, time_left(kRevokeCommitTimeout));
  }
  revoke_state(parts);
  for (Partition* p : parts) {
    // Handed on and not committed: what the next owner reads again.
    const int64_t committed = p->confirmed >= 0 ? p->confirmed : p->first;
    const uint64_t uncommitted =
        committed >= 0 && p->next > committed ? static_cast<uint64_t>(p->next - committed) : 0;
    const int64_t done = committable(*p);  // also releases what is done
    const uint64_t in_flight = tracker_.in_flight(p->slot);
    if (lost) {
      probe_.on_partition_lost(in_flight, uncommitted);
      if (done > p->confirmed && !options_.exactly_once)
        lost_done_[key_of(p->topic, p->partition)] = done;
    } else {
      probe_.on_partition_revoked(in_flight, uncommitted);
    }
    auto of_p = [&](const kafka::MessagePtr& m) {
      return m->partition == p->partition &&
             core::intern_topic(rd_kafka_topic_name(m->rkt)) == p->topic;
    };
    if (p->stashed > 0) std::erase_if(stash_, of_p);
    std::erase_if(batch_, of_p);  // read in this burst, before the revocation
    if (marks_) marks_->revoke(p->mark);
    tracker_.close(p->slot);
    partitions_.erase(key_of(p->topic, p->partition));
  }
  last_ = nullptr;
  if (suspect_mode_) update_suspect_mode();
}

void KafkaSource::finish(core::Emitter&) { stop_seen_ = core::SteadyClock::now(); }

std::chrono::milliseconds KafkaSource::time_left(std::chrono::milliseconds otherwise) const {
  if (stop_seen_ == core::TimePoint{}) return otherwise;
  // What follows shutdown() (closing the producer, the process's exit) fits
  // in the margin.
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      stop_seen_ + options_.shutdown_timeout - kExitMargin - core::SteadyClock::now());
  return std::clamp(left, std::chrono::milliseconds(0), otherwise);
}

void KafkaSource::shutdown() {
  if (!consumer_) return;
  if (stop_seen_ == core::TimePoint{}) stop_seen_ = core::SteadyClock::now();
  stash_.clear();
  // A commit sent while the generation changes carries the old one and is
  // refused: let a rebalance under way finish first (its callbacks run here;
  // a revocation commits then), keeping a second for the rest.
  while (consumer_->rebalancing() && time_left(options_.shutdown_timeout) > kSettleReserve) {
    consumer_->poll(std::chrono::milliseconds(50));  // a record read now is left unread
  }
  if (options_.exactly_once) shutdown_transactional();  // needs the producer open
  if (output_) {
    if (!output_->flush(time_left(options_.final_flush_timeout))) {
      core::log_warn(
          "kafka source: deliveries still outstanding at shutdown; their records stay uncommitted");
    }
    output_->close();
  }
  // Every worker has joined: all acks are in.
  if (!options_.exactly_once) commit_sync(all_partitions(), time_left(options_.shutdown_timeout));
  if (marks_) {
    if (tracker_.in_flight() == 0) {
      marks_->clean_exit();
    } else {
      core::log_warn("kafka source: ", tracker_.in_flight(),
                     " records dropped in flight (the pipeline was aborted): the crash marks "
                     "keep them, as after a kill");
    }
    marks_.reset();  // before close(): its revocations must not clear the marks
  }
  // Leaves the group (a static member stays: see Consumer::close); the
  // revocation commits again if anything moved.
  consumer_->close(time_left(options_.shutdown_timeout));
  consumer_.reset();
  core::log_info("kafka source: closed (", probe_.consumed_total(), " records consumed)");
}

std::string KafkaSource::not_ready() const {
  std::string why;
  if (!brokers_up_.load(std::memory_order_relaxed))
    why = "kafka: all brokers are down (" + options_.consumer.bootstrap_servers + ")";
  if (!assigned_.load(std::memory_order_relaxed)) {
    why += std::string(why.empty() ? "" : "; ") +
           "kafka: waiting for a partition assignment in group '" + options_.consumer.group_id +
           "'";
  }
  return why;
}

namespace {

// A kafka_source stage's keys: its operator's options and the crash-loop
// breaker's two, which its factory turns into crash_marks_dir. The
// initializers are the defaults; the `kafka:` section is kafka_services.cpp's.
struct KafkaSourceStage {
  KafkaSourceOptions options;
  bool crash_loop_breaker = true;
  std::string crash_marks_dir;  // "": <system temp dir>/sluice
};

constexpr const char* kGroupKey = "group";  // also group.id's key path

const config::Options<KafkaSourceStage>& kafka_source_options() {
  static const config::Options<KafkaSourceStage> options = [] {
    using S = KafkaSourceStage;
    config::Options<S> o;
    o.add(
         "topics", [](S & s) -> auto& { return s.options.topics; },
         "Topics to consume: names, or regular expressions starting with ^")
        .req();
    o.add(
         kGroupKey, [](S & s) -> auto& { return s.options.consumer.group_id; },
         "Consumer group id (offsets are committed there)")
        .req();
    o.add(
         "format", [](S & s) -> auto& { return s.options.format.format; },
         "Message values: raw text, or JSON with the text in text_field")
        .choices({{"raw", kafka::InputFormat::kRaw}, {"json", kafka::InputFormat::kJson}});
    o.add(
        "text_field", [](S & s) -> auto& { return s.options.format.text_field; },
        "json: dotted path of the text field");
    o.add(
        "id_field", [](S & s) -> auto& { return s.options.format.id_field; },
        "json: dotted path of the record id (optional)");
    o.add(
        "key_field", [](S & s) -> auto& { return s.options.format.key_field; },
        "json: dotted path of a field that replaces the record key (optional)");
    o.add(
        "group_field", [](S & s) -> auto& { return s.options.format.group_field; },
        "json: dotted path of the grouping field for windows (optional)");
    o.add(
         "max_record_bytes", [](S & s) -> auto& { return s.options.format.max_record_bytes; },
         "Larger values become dead letters (too_large)")
        .bytes()
        .range(1, 1 << 30);
    o.add(
         "invalid_utf8", [](S & s) -> auto& { return s.options.format.invalid_utf8; },
         "Invalid UTF-8: dead letter (reject) or substitute U+FFFD (replace)")
        .choices(
            {{"reject", kafka::Utf8Policy::kReject}, {"replace", kafka::Utf8Policy::kReplace}});
    o.add(
         "high_watermark", [](S & s) -> auto& { return s.options.high_watermark; },
         "Records in flight above which the source pauses its partitions")
        .range(1, 1 << 24);
    o.add(
         "low_watermark", [](S & s) -> auto& { return s.options.low_watermark; },
         "Records in flight below which a paused source resumes")
        .range(0, 1 << 24);
    o.add(
         "pause_after", [](S & s) -> auto& { return s.options.pause_after; },
         "Above high_watermark the source stops reading; after this long it also pauses its "
         "partitions at the broker (and polls, to stay in the group)")
        .range(0, 60);
    o.add(
         "commit_interval", [](S & s) -> auto& { return s.options.commit_interval; },
         "How often delivered offsets are committed")
        .range(0.001, 3600);
    o.add(
         "commit_records", [](S & s) -> auto& { return s.options.commit_records; },
         "Also commit as soon as this many records are delivered and not yet committed (bounds "
         "what a kill -9 re-delivers); 0: by time only")
        .range(0, 1 << 30);
    o.add(
         "poll_timeout", [](S & s) -> auto& { return s.options.poll_timeout; },
         "Longest wait for a message in one poll")
        .range(0.001, 10);
    o.add(
         "overload", [](S & s) -> auto& { return s.options.shed; },
         "Overload policy: pause (backpressure; records wait in Kafka) or shed (records already "
         "older than latency_objective when read go to the dead-letter topic as overload, so "
         "fresh records keep their latency)")
        .choices({{"pause", false}, {"shed", true}});
    o.add(
         "latency_objective", [](S & s) -> auto& { return s.options.latency_objective; },
         "overload shed: the end-to-end latency objective (Kafka timestamp to result)")
        .range(0.001, 86400);
    o.add(
         "assignment_strategy",
         [](S & s) -> auto& { return s.options.consumer.assignment_strategy; },
         "Partition assignment (cooperative-sticky: incremental rebalances)")
        .choices({"cooperative-sticky", "range", "roundrobin"});
    o.add(
         "auto_offset_reset", [](S & s) -> auto& { return s.options.consumer.auto_offset_reset; },
         "Where a group without committed offsets starts")
        .choices({"earliest", "latest"});
    o.add("crash_loop_breaker", &S::crash_loop_breaker,
          "Dead-letter (poison_crash) a record that was in flight when the process died twice, "
          "instead of dying on it at every restart");
    o.add("crash_marks_dir", &S::crash_marks_dir,
          "Where the crash-loop breaker keeps its marks file (one per group and instance; 96 "
          "bytes per partition, sparse); must outlive a restart of the process (Kubernetes: an "
          "emptyDir volume). Empty: <system temp dir>/sluice");
    return o;
  }();
  return options;
}

}  // namespace

void register_kafka_source(OperatorRegistry& registry) {
  registry.add(OperatorSpec{
      .type = "kafka_source",
      .description =
          "Consumes Kafka topics in a consumer group; commits only what has been delivered",
      .is_source = true,
      .declare = [](config::Schema& s) { kafka_source_options().declare(s); },
      .make_source = [](BuildContext& ctx) -> std::unique_ptr<core::Source> {
        KafkaSourceStage stage = kafka_source_options().read(ctx.options);
        KafkaSourceOptions& o = stage.options;
        const KafkaSection kafka = kafka_section(ctx.services);
        o.pipeline = ctx.services.pipeline_name();
        o.metrics = ctx.services.metrics();
        o.consumer.bootstrap_servers = kafka.bootstrap_servers;
        o.consumer.instance_id = kafka.instance_id;
        o.consumer.properties =
            kafka_client_properties(ctx.services, KafkaClient::kConsumer, &o.consumer.sources);
        o.consumer.sources["group.id"] = property_source(ctx.options, kGroupKey);
        if (o.shed && kafka.dead_letter_topic.empty()) {
          throw std::invalid_argument(
              "overload: shed sends records to the dead-letter topic; set "
              "kafka.dead_letter_topic");
        }
        o.shutdown_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
            runtime_section(ctx.services.root()).shutdown_timeout);
        if (stage.crash_loop_breaker) {
          o.crash_marks_dir = stage.crash_marks_dir;
          if (o.crash_marks_dir.empty())
            o.crash_marks_dir = (std::filesystem::temp_directory_path() / "sluice").string();
        }
        if (o.consumer.group_id.empty()) throw std::invalid_argument("group: must not be empty");
        o.exactly_once = kafka.exactly_once;
        o.transaction_interval = kafka.transaction_interval;
        if (o.exactly_once) {
          // Read only committed records: what an aborted transaction of an
          // upstream producer wrote never counts.
          auto iso = o.consumer.properties.find("isolation.level");
          if (iso != o.consumer.properties.end() && iso->second != "read_committed") {
            auto where = o.consumer.sources.find("isolation.level");
            throw config::ConfigError(
                "kafka", {{where != o.consumer.sources.end() ? where->second.path
                                                             : "kafka.consumer_properties",
                           "kafka.delivery exactly_once reads with isolation.level "
                           "read_committed"}});
          }
          o.consumer.properties["isolation.level"] = "read_committed";
        }
        check_kafka_conf([&] { return kafka::consumer_conf(o.consumer); });
        // Stateful stages built after this one add their stores here.
        o.stores =
            &ctx.services.shared<state::Stores>([] { return std::make_unique<state::Stores>(); });
        auto src = std::make_unique<KafkaSource>(std::move(o));
        // With a dead-letter topic the source publishes through the shared
        // output, and manages it when no sink does; under exactly_once it
        // commits the output's transactions.
        if (!kafka.dead_letter_topic.empty() || kafka.exactly_once)
          src->set_output(&kafka_output(ctx.services));
        return src;
      },
      .make_operator = nullptr,
  });
}

}  // namespace sluice::operators
