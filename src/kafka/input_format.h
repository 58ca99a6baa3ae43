// Input formats of the Kafka source: how a message value becomes the text the
// model reads (and the record's id, key and group).
//
//   raw:  the whole value is the text (a view into the message: zero-copy).
//   json: a JSON object; `text_field` (a dotted path, e.g. "review.body")
//         names the text, optional id/key/group fields likewise. Decoded with
//         simdjson; the whole document is validated. The text stays a view
//         into the message unless it contains escapes. An empty text_field
//         asks for no text: the object is validated (and id/key/group read)
//         for a later stage that reads fields of its own (recommend_state).
//
// Checks, in this order, each failure a dead-letter code (core/dead_letter.h):
//   empty value → empty; value over max_record_bytes → too_large;
//   invalid UTF-8 → invalid_utf8 (policy reject; policy replace substitutes
//   U+FFFD and copies); objects and arrays nested deeper than kMaxJsonDepth
//   → too_deep; malformed JSON → invalid_json; text field absent or not a
//   string, or an id/key/group field that is an object or array →
//   missing_field; empty text → empty. Numbers are checked against the JSON
//   grammar, not parsed: one outside double range is fine.
//
// Bounds: the walk is iterative (no recursion the input could deepen) and
// holds at most kMaxJsonDepth open containers; its memory is reserved once.
//
// Threading: one InputDecoder per thread (it owns a parser and a buffer).
#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/core/record.h"

namespace sluice::kafka {

enum class InputFormat { kRaw, kJson };

// Most objects and arrays open at once in a JSON value (the root counts).
// The limit of simdjson's DOM parser (DEFAULT_MAX_DEPTH 1024, which counts
// the document itself as a level); its On-Demand API, used here, leaves
// depth to the caller. So every value sluice accepts, a simdjson DOM consumer
// of the same topic accepts too; real records nest a few levels.
inline constexpr size_t kMaxJsonDepth = 1023;
enum class Utf8Policy { kReject, kReplace };

struct InputFormatOptions {
  InputFormat format = InputFormat::kRaw;
  std::string text_field = "text";  // json: dotted path of the text; "" for none
  std::string id_field;             // json, optional: → Record::id (string or number)
  std::string key_field;            // json, optional: → the record's key
  std::string group_field;          // json, optional: → Record::group
  size_t max_record_bytes = 1 << 20;
  Utf8Policy invalid_utf8 = Utf8Policy::kReject;
};

// Why a record cannot be decoded.
struct DecodeError {
  const char* code;    // a dead_letter_code constant
  std::string detail;  // human-readable
};

class InputDecoder {
 public:
  // Throws std::invalid_argument for an unusable field path.
  explicit InputDecoder(InputFormatOptions options);
  ~InputDecoder();
  InputDecoder(const InputDecoder&) = delete;
  InputDecoder& operator=(const InputDecoder&) = delete;

  // Sets r's text (and id/key/group) from r.value(). nullopt on success.
  std::optional<DecodeError> decode(core::Record& r);

  const InputFormatOptions& options() const { return options_; }

 private:
  struct Json;  // simdjson state, kept out of this header
  std::optional<DecodeError> decode_json(core::Record& r, std::string_view value,
                                         bool value_is_record);

  InputFormatOptions options_;
  std::unique_ptr<Json> json_;
  std::string sanitized_;  // reused buffer for Utf8Policy::kReplace
};

// Replaces each maximal invalid UTF-8 subsequence with U+FFFD (the Unicode
// "substitution of maximal subparts" practice). Exposed for tests.
std::string replace_invalid_utf8(std::string_view s);

}  // namespace sluice::kafka
