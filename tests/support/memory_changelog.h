// A changelog in memory, for tests of state without a broker: keeps every
// record written, in order, and can fold any prefix of them back into a
// partition's snapshot (what a restore after a crash would read).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "src/state/keyed_store.h"

namespace sluice::state::testing {

class MemoryChangelog final : public ChangelogWriter {
 public:
  struct Record {
    int32_t partition;
    std::string key;
    std::optional<std::string> value;
  };
  void write(int32_t partition, std::string_view key, std::optional<std::string_view> value,
             core::Ack ack) override {
    records.push_back({partition, std::string(key),
                       value ? std::optional<std::string>(std::string(*value)) : std::nullopt});
    ack.complete();  // durable at once
  }
  bool flush(std::chrono::milliseconds) override { return true; }

  // The first `n` records of `partition` (all: SIZE_MAX) folded into a snapshot.
  PartitionSnapshot restore(int32_t partition, size_t n = SIZE_MAX) const {
    PartitionSnapshot snap;
    size_t taken = 0;
    for (const Record& r : records) {
      if (r.partition != partition) continue;
      if (taken++ == n) break;
      snap.fold(r.key, r.value ? std::optional<std::string_view>(*r.value) : std::nullopt);
    }
    return snap;
  }
  size_t count(int32_t partition) const {
    size_t n = 0;
    for (const Record& r : records) n += r.partition == partition;
    return n;
  }

  std::vector<Record> records;
};

}  // namespace sluice::state::testing
