// Stores: the keyed state stores of one pipeline, and their part in the
// Kafka source's assignment protocol (DESIGN.md §2).
//
// Stateful operators add their store when the pipeline is built; the Kafka
// source, at start(), binds each to its changelog topic (creating it), and
// from then on, on the source thread:
//   - assigned: before a newly assigned partition's first record is read,
//     every store reads its changelog partition back and posts it to its
//     operator (KeyedStore::post_restored). The source does this inside its
//     assignment callback, so no record of the partition is handed on first.
//     Large state lengthens the callback: it must fit max.poll.interval.ms
//     (5 min by default; README gives restore seconds per GB).
//   - revoked: the stores drop the partition (post_revoked); the operator
//     writes nothing more for it.
//
// Threading: add() while the pipeline is built; the rest on the source thread.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "src/kafka/output.h"
#include "src/state/changelog.h"
#include "src/state/keyed_store.h"

namespace sluice::state {

class Stores {
 public:
  // A store for `stage`, writing through `output` (not owned; outlives this).
  KeyedStore& add(const std::string& stage, kafka::Output& output, metrics::Registry* registry,
                  const std::string& pipeline);
  bool empty() const { return stores_.empty(); }

  // Binds every store to `<group>-<stage>-changelog` and makes sure the topic
  // exists with `partitions` partitions (the input's). Throws KafkaError.
  void start(const std::string& bootstrap, const std::string& group,
             const kafka::Properties& properties, int partitions,
             std::chrono::milliseconds timeout);
  // Restores `partitions` (input partition numbers) into every store.
  // Throws KafkaError when a restore cannot finish (see KafkaChangelog::restore).
  void restore(const std::vector<int32_t>& partitions, std::chrono::milliseconds timeout);
  void revoke(const std::vector<int32_t>& partitions);

 private:
  struct Stage {
    std::unique_ptr<KeyedStore> store;
    kafka::Output* output;
    std::unique_ptr<KafkaChangelog> changelog;
  };
  std::vector<Stage> stores_;
};

}  // namespace sluice::state
