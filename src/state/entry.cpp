#include "src/state/entry.h"

namespace sluice::state {

void append_entry(std::string& out, int64_t applied_offset, std::string_view payload) {
  out.reserve(out.size() + kEntryHeaderBytes + payload.size());
  out.push_back(kEntryMagic);
  out.push_back(kEntryVersion);
  const auto u = static_cast<uint64_t>(applied_offset);
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((u >> shift) & 0xff));
  out.append(payload);
}

std::optional<Entry> decode_entry(std::string_view bytes, std::string* why) {
  if (bytes.size() < kEntryHeaderBytes) {
    if (why) *why = "shorter than the entry header";
    return std::nullopt;
  }
  if (bytes[0] != kEntryMagic) {
    if (why) *why = "not a sluice state entry (bad magic)";
    return std::nullopt;
  }
  if (bytes[1] != kEntryVersion) {
    if (why) *why = "unknown entry version " + std::to_string(static_cast<int>(bytes[1]));
    return std::nullopt;
  }
  uint64_t u = 0;
  for (size_t i = 2; i < kEntryHeaderBytes; ++i)
    u = (u << 8) | static_cast<unsigned char>(bytes[i]);
  const auto offset = static_cast<int64_t>(u);
  if (offset < -1) {
    if (why) *why = "applied offset below -1";
    return std::nullopt;
  }
  return Entry{offset, bytes.substr(kEntryHeaderBytes)};
}

}  // namespace sluice::state
