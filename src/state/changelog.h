// KafkaChangelog: a stage's changelog topic in Kafka — `<group>-<stage>-changelog`,
// cleanup.policy=compact, one partition per input partition (entries of
// input partition p go to changelog partition p). Writes go through the
// pipeline's shared Output, so under exactly_once they are in the same
// transaction as the results and input offsets; restores read a partition
// from its start to its end with a consumer of its own (read_committed: an
// aborted transaction's entries never come back).
//
// Threading: write() from the stage's worker; ensure_topic() and restore()
// from the source thread.
#pragma once
#include <chrono>
#include <memory>
#include <string>

#include "src/core/topics.h"
#include "src/kafka/conf.h"
#include "src/kafka/output.h"
#include "src/state/keyed_store.h"

namespace sluice::state {

// `<group>-<stage>-changelog`.
std::string changelog_topic(const std::string& group, const std::string& stage);

class KafkaChangelog final : public ChangelogWriter {
 public:
  // `properties`: the consumer's pass-through properties (security, timeouts),
  // used by the restore consumer. `output` must outlive this.
  KafkaChangelog(std::string topic, std::string bootstrap, kafka::Properties properties,
                 kafka::Output& output);
  ~KafkaChangelog() override;
  KafkaChangelog(const KafkaChangelog&) = delete;
  KafkaChangelog& operator=(const KafkaChangelog&) = delete;

  const std::string& topic() const { return topic_; }

  // Makes sure the topic exists with at least `partitions` partitions:
  // creates it (compacted) when missing. Throws KafkaError when it cannot
  // (it has fewer partitions than the input, or the broker refuses to create
  // it: the message says what to create by hand).
  void ensure_topic(int partitions, std::chrono::milliseconds timeout);

  // Reads changelog partition `partition` from its start to its end (for
  // read_committed, the last stable offset) into a snapshot. Throws
  // KafkaError if it cannot finish within `timeout`: processing a partition
  // without its state would silently start it from nothing.
  PartitionSnapshot restore(int32_t partition, std::chrono::milliseconds timeout);

  void write(int32_t partition, std::string_view key, std::optional<std::string_view> value,
             core::Ack ack) override;
  bool flush(std::chrono::milliseconds timeout) override;

 private:
  rd_kafka_t* reader();
  // Asks the output's producer for the topic's metadata until the broker has
  // auto-created it (or `timeout`); its partition count, 0 if none.
  int auto_create(std::chrono::milliseconds timeout);

  std::string topic_;
  core::TopicId topic_id_;
  std::string bootstrap_;
  kafka::Properties properties_;
  kafka::Output& output_;
  kafka::Producer* producer_ = nullptr;  // from output_, at the first write
  rd_kafka_t* reader_ = nullptr;         // created on first use
};

}  // namespace sluice::state
