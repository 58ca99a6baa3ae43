// The events of a recommendation pipeline: one JSON object per message,
//
//   {"user": "u42" | 42, "item": "i7" | 7, "ts": 1465000000[, "rating": 4.5, "type": "view"]}
//
// decoded by recommend_state. An id is a JSON string (non-empty, at most
// kMaxIdBytes bytes, any Unicode) or a JSON integer of any size (kept as the
// digits written, so 42 and "42" are the same id); ts is a finite number;
// rating (a finite number) and type (a string) are optional; other fields are
// ignored. The whole value is first validated by the Kafka source's JSON
// decoder (src/kafka/input_format.h: UTF-8, nesting depth, size, syntax), so
// hostile values get the same dead-letter codes as anywhere else in sluice.
//
// Problems, each a dead-letter code: empty, too_large, invalid_utf8,
// too_deep, invalid_json (also a value that is not an object);
// missing_field (user, item or ts absent or of the wrong type, an empty id,
// a fractional or exponent id, rating or type of the wrong type); too_large
// (an id over kMaxIdBytes).
//
// Threading: one decoder per worker (it owns parsers and buffers).
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "src/core/record.h"
#include "src/kafka/input_format.h"

namespace sluice::operators {

struct RecommendEvent {
  std::string user;  // canonical id: a string's unescaped value, an integer's digits
  std::string item;
  double ts = 0;
  std::optional<double> rating;
  std::string type;  // "" when absent
};

class EventDecoder {
 public:
  static constexpr size_t kMaxIdBytes = 256;

  explicit EventDecoder(size_t max_record_bytes);
  ~EventDecoder();
  EventDecoder(const EventDecoder&) = delete;
  EventDecoder& operator=(const EventDecoder&) = delete;

  // Decodes record.value() into `event` (its strings' buffers are reused).
  // nullopt on success, else why the event cannot be used.
  std::optional<kafka::DecodeError> decode(core::Record& record, RecommendEvent& event);

 private:
  struct Fields;  // simdjson state, kept out of this header
  kafka::InputDecoder validator_;
  std::unique_ptr<Fields> fields_;
};

}  // namespace sluice::operators
