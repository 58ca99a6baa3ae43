// Process-wide table of interned topic names, so records carry a 4-byte id
// instead of a string. Ids are never reused; names live for the process.
#pragma once
#include <cstdint>
#include <string_view>

namespace sluice::core {

using TopicId = int32_t;
inline constexpr TopicId kNoTopic = -1;

// Thread-safe. Returns the same id for the same name.
TopicId intern_topic(std::string_view name);
// Thread-safe, lock-free for ids already returned by intern_topic. "" for kNoTopic.
std::string_view topic_name(TopicId id);

}  // namespace sluice::core
