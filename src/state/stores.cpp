#include "src/state/stores.h"

#include "src/core/log.h"

namespace sluice::state {

KeyedStore& Stores::add(const std::string& stage, kafka::Output& output,
                        metrics::Registry* registry, const std::string& pipeline) {
  stores_.push_back({std::make_unique<KeyedStore>(stage, registry, pipeline), &output, nullptr});
  return *stores_.back().store;
}

void Stores::start(const std::string& bootstrap, const std::string& group,
                   const kafka::Properties& properties, int partitions,
                   std::chrono::milliseconds timeout) {
  for (Stage& s : stores_) {
    s.changelog = std::make_unique<KafkaChangelog>(changelog_topic(group, s.store->stage()),
                                                   bootstrap, properties, *s.output);
    s.changelog->ensure_topic(partitions, timeout);
    s.store->bind(s.changelog.get());
  }
}

void Stores::restore(const std::vector<int32_t>& partitions, std::chrono::milliseconds timeout) {
  for (Stage& s : stores_) {
    if (!s.changelog) continue;
    for (int32_t p : partitions) {
      PartitionSnapshot snap = s.changelog->restore(p, timeout);
      core::log_info("state ", s.store->stage(), ": restored partition ", p, ": ", snap.keys.size(),
                     " keys from ", snap.records, " changelog records (", snap.bytes, " bytes) in ",
                     static_cast<int64_t>(snap.seconds * 1000), " ms");
      s.store->post_restored(p, std::move(snap));
    }
  }
}

void Stores::revoke(const std::vector<int32_t>& partitions) {
  for (Stage& s : stores_)
    for (int32_t p : partitions) s.store->post_revoked(p);
}

}  // namespace sluice::state
