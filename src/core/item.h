// Item: what moves along the queues between stages.
//
// Stages declare the kind they take and the kind they produce; the pipeline
// checks the chain at start-up, so a mis-wired pipeline is a configuration
// error rather than a run-time surprise.
#pragma once
#include <string_view>
#include <variant>

#include "src/core/batch.h"
#include "src/core/record.h"

namespace sluice::core {

enum class ItemKind : uint8_t { kNone, kRecord, kBatch };

using Item = std::variant<Record, Batch>;

inline ItemKind kind_of(const Item& item) {
  return std::holds_alternative<Record>(item) ? ItemKind::kRecord : ItemKind::kBatch;
}

inline std::string_view item_kind_name(ItemKind k) {
  switch (k) {
    case ItemKind::kNone:
      return "nothing";
    case ItemKind::kRecord:
      return "records";
    case ItemKind::kBatch:
      return "batches";
  }
  return "?";
}

}  // namespace sluice::core
