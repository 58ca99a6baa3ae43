// Batch: records packed for one model forward (DESIGN.md §4).
//
// Token ids of all records are concatenated without padding; cu_seqlens holds
// the offsets (size = records + 1, cu_seqlens[0] = 0). Backends that need
// padding pad internally; a batch never carries padding. After inference the
// batch carries logits (records × num_labels, row-major) and optionally pooled
// embeddings (records × embedding_dim).
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "src/core/record.h"

namespace sluice::core {

enum class FlushReason : uint8_t {
  kMaxRecords,  // max_batch_records reached
  kMaxTokens,   // max_batch_tokens reached
  kMaxDelay,    // the oldest record waited max_delay
  kIdle,        // the infer stage was idle: flush at once
  kDrain,       // end of input / shutdown
  kModel,       // the next record was made for another model (hot reload)
};
inline constexpr int kFlushReasons = 6;

inline std::string_view flush_reason_name(FlushReason r) {
  switch (r) {
    case FlushReason::kMaxRecords:
      return "max_records";
    case FlushReason::kMaxTokens:
      return "max_tokens";
    case FlushReason::kMaxDelay:
      return "max_delay";
    case FlushReason::kIdle:
      return "idle";
    case FlushReason::kDrain:
      return "drain";
    case FlushReason::kModel:
      return "model";
  }
  return "unknown";
}

struct Batch {
  std::vector<Record> records;
  std::vector<int32_t> token_ids;   // packed, no padding
  std::vector<int32_t> cu_seqlens;  // records.size() + 1 offsets into token_ids
  int32_t max_seqlen = 0;
  // The model every record was made for (all the same: micro_batch closes a
  // batch when it changes); infer sets it to the model it ran.
  std::shared_ptr<const ModelTag> model;

  int32_t num_labels = 0;
  std::vector<float> logits;  // records.size() × num_labels
  int32_t embedding_dim = 0;
  std::vector<float> embeddings;  // records.size() × embedding_dim, when requested

  FlushReason flush_reason = FlushReason::kMaxDelay;
  int64_t oldest_ns = 0;       // now_ns() when the oldest record entered the batcher
  int64_t flush_ns = 0;        // when the batch was closed
  int64_t infer_begin_ns = 0;  // submitted to the backend
  int64_t infer_end_ns = 0;    // results available

  size_t size() const { return records.size(); }
  size_t total_tokens() const { return token_ids.size(); }
};

}  // namespace sluice::core
