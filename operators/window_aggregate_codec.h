// The changelog payload of window_aggregate's state (src/state/keyed_store.h):
// one key's windows of one input partition, with the partition's stream time
// when it was written. The partition's own entry is the same with no windows.
//
//   int64 stream_time | uint32 windows | per window:
//     int64 start | uint64 count | float64 score_sum | uint32 labels |
//     per label: uint16 name length | name bytes | uint64 count
//
// Little-endian, as the host (sluice runs on x86-64 and aarch64, both LE).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "operators/window_aggregate_state.h"

namespace sluice::operators {

void encode_windows(std::string& out, int64_t stream_time, std::span<const ClosedWindow> windows);

// Decodes what encode_windows() wrote: appends the windows (with `key` and
// end = start + size_ms) to `out`. False, with the reason, for bytes that do
// not parse (a hostile or corrupted changelog record): nothing is appended.
bool decode_windows(std::string_view in, std::string_view key, int64_t size_ms,
                    int64_t* stream_time, std::vector<ClosedWindow>& out, std::string* why);

}  // namespace sluice::operators
