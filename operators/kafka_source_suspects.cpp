// KafkaSource, crash-loop breaker side (src/kafka/crash_marks.h): marking
// what is handed on, and suspect mode, where records that were in flight at
// a death are replayed one at a time. The rest is in kafka_source.cpp.
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "operators/kafka_source.h"
#include "src/core/emitter.h"
#include "src/core/log.h"

namespace sluice::operators {

void KafkaSource::open_crash_marks() {
  std::string instance = options_.instance_id;
  if (instance.empty()) instance = options_.consumer.instance_id;
  if (instance.empty()) {
    auto it = options_.consumer.properties.find("group.instance.id");
    if (it != options_.consumer.properties.end()) instance = it->second;
  }
  if (instance.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    instance = host;
  }
  // Twice the partitions assigned at once: room for marks of partitions
  // that went elsewhere (they are dropped first when it fills up).
  marks_ = kafka::CrashMarks::open(options_.crash_marks_dir, options_.consumer.group_id, instance,
                                   2 * options_.max_partitions);
  if (size_t n = marks_->partitions_in_flight_at_death()) {
    core::log_warn("kafka source: the previous run ",
                   marks_->predecessor_crashed() ? "crashed" : "was killed",
                   " with records in flight in ", n, " partition(s) (", marks_->path(), ")");
  }
}

core::Source::Poll KafkaSource::poll_suspects(core::Emitter& out) {
  maintain();  // records what is done in the marks; may end suspect mode
  if (!suspect_mode_ || out.stopping()) return Poll::kIdle;
  if (tracker_.in_flight() > 0 || !stash_.empty()) {
    // The record in flight is not done yet (acks complete on other threads).
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return Poll::kIdle;
  }
  kafka::MessagePtr m = consumer_->poll(options_.poll_timeout);
  if (!m) return Poll::kIdle;
  Partition* p = find(m.get());
  if (!p) return Poll::kIdle;  // no longer ours
  marks_->handing_alone(p->mark, m->offset);
  probe_.on_suspect_record();
  emit(*p, std::move(m), out);
  return Poll::kEmitted;
}

void KafkaSource::mark_batch() {
  // The consumer poll that runs an assignment bringing suspects (on_assigned)
  // goes on to return a message, often the new partition's first. Handed on
  // with the burst it would be marked as part of a window, perhaps with other
  // records in flight: a death on it would not count as its own, and the
  // breaker would need another death, or never break the loop while that
  // race keeps being lost. Put it back, to be read again alone.
  if (suspect_mode_) {
    kafka::PartitionList back;
    std::erase_if(batch_, [&](const kafka::MessagePtr& m) {
      Partition* p = find(m.get());
      if (!p || !p->suspect) return false;
      const bool lowest = std::none_of(back.begin(), back.end(), [&](const auto& tp) {
        return tp.partition == p->partition && p->topic_name == tp.topic;
      });
      if (lowest) back.add(p->topic_name, p->partition, m->offset);  // its lowest: offsets increase
      return true;
    });
    if (!back.empty()) consumer_->seek(back);
  }
  Partition* run = nullptr;  // messages come in runs from one partition
  int64_t first = 0, last = 0;
  for (const kafka::MessagePtr& m : batch_) {
    Partition* p = find(m.get());
    if (p != run) {
      if (run) marks_->handing(run->mark, first, last);
      run = p;
      first = m->offset;
    }
    last = m->offset;
  }
  if (run) marks_->handing(run->mark, first, last);
}

void KafkaSource::update_suspect_mode() {
  if (!marks_) return;  // closed in shutdown()
  bool any = false;
  for (auto& [k, p] : partitions_) {
    if (p.suspect && !marks_->careful(p.mark)) p.suspect = false;
    any = any || p.suspect;
  }
  std::vector<Partition*> change;
  if (any) {
    // One record in the pipeline at a time: partitions without suspects wait.
    for (auto& [k, p] : partitions_) {
      if (!p.suspect && !p.paused_suspect) {
        p.paused_suspect = true;
        change.push_back(&p);
      }
    }
    set_paused(change, true);
    if (!suspect_mode_) {
      core::log_warn(
          "kafka source: suspect mode: records in flight at the last death are "
          "replayed one at a time; ",
          change.size(), " other partition(s) paused meanwhile");
    }
  } else if (suspect_mode_) {
    for (auto& [k, p] : partitions_) {
      if (!p.paused_suspect) continue;
      p.paused_suspect = false;
      if (!p.paused_full && !paused_all_) change.push_back(&p);
    }
    set_paused(change, false);
    core::log_info("kafka source: suspect mode over (", probe_.suspect_records(),
                   " records replayed alone, ", probe_.poison_records(),
                   " dead-lettered as poison)");
  }
  suspect_mode_ = any;
  probe_.set_suspect_mode(any);
}

}  // namespace sluice::operators
