// Changelog entries: the bytes of one record of a state changelog topic.
//
// Kafka key: the state key. Kafka value: a small header, then the operator's
// payload (its encoding of the key's value):
//
//   byte 0      'S'  (magic: a record not written by sluice is recognised)
//   byte 1      1    (format version)
//   bytes 2-9   the input offset applied, int64 big-endian (-1: none yet)
//   bytes 10-   payload
//
// The applied offset is what makes state exactly-once under at-least-once
// delivery: a re-delivered input record whose offset is not above its key's
// applied offset changes nothing (KeyedStore::applied). A null value (a
// tombstone) deletes the key; compaction then drops it from the topic.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::state {

inline constexpr char kEntryMagic = 'S';
inline constexpr char kEntryVersion = 1;
inline constexpr size_t kEntryHeaderBytes = 10;

// Appends the entry's value bytes to `out`.
void append_entry(std::string& out, int64_t applied_offset, std::string_view payload);

struct Entry {
  int64_t applied_offset = -1;
  std::string_view payload;  // into the decoded bytes
};

// Decodes an entry's value bytes; nullopt (with the reason in `why`) for
// bytes sluice did not write: too short, another magic or version, a
// offset below -1. Never throws: a changelog is input like any other.
std::optional<Entry> decode_entry(std::string_view bytes, std::string* why);

}  // namespace sluice::state
