// libFuzzer target over the Kafka source's JSON input decoder
// (src/kafka/input_format.h): every record value comes from outside.
// Any crash (a stack overflow on deep nesting included), out-of-bounds
// access, undefined behaviour, hang, or broken invariant (abort) fails the run.
//
// Input: byte 0 picks the options (UTF-8 policy, text path, id/key/group
// fields, max_record_bytes), the rest is the record value. Invariants:
//   - decode returns; an error carries a known dead-letter code and a detail;
//   - a success has a non-empty text that is valid UTF-8 and, when it is a
//     view, lies inside the value; the value was within max_record_bytes,
//     and valid UTF-8 under the reject policy;
//   - too_deep exactly when the value (read as JSON, strings skipped) nests
//     more than kMaxJsonDepth objects and arrays, before any other error
//     the walk would meet (checked one way: too_deep ⇒ deeper than the limit;
//     a success ⇒ not deeper);
//   - against simdjson's DOM parser, an independent path through the same
//     grammar (whole-document parse, same depth limit): what DOM accepts as
//     an object with a non-empty string at `text`, the decoder accepts with
//     the same text; what the decoder accepts, DOM accepts too, or rejects
//     only for a number outside its range;
//   - id/key/group, when set, are never a lone "{" or "[".
#ifndef NDEBUG
#define NDEBUG
#include <simdjson.h>
#undef NDEBUG
#else
#include <simdjson.h>
#endif

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "src/core/dead_letter.h"
#include "src/kafka/input_format.h"
#include "tests/fuzz/fuzz_assert.h"

namespace {

using namespace sluice;
namespace code = core::dead_letter_code;

// Deepest nesting of objects and arrays, strings skipped (escapes honoured).
size_t nesting(std::string_view s) {
  size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) deepest = depth;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

kafka::InputDecoder& decoder(uint8_t sel) {
  static kafka::InputDecoder* decoders[16] = {};
  kafka::InputDecoder*& d = decoders[sel & 15];
  if (!d) {
    kafka::InputFormatOptions o;
    o.format = kafka::InputFormat::kJson;
    o.invalid_utf8 = (sel & 1) ? kafka::Utf8Policy::kReplace : kafka::Utf8Policy::kReject;
    if (sel & 2) {
      o.id_field = "id";
      o.key_field = "key";
      o.group_field = "g.name";
    }
    if (sel & 4) o.text_field = "review.text";
    if (sel & 8) o.max_record_bytes = 4096;
    d = new kafka::InputDecoder(o);  // reused across inputs: state must not leak between them
  }
  return *d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t sel = data[0];
  kafka::InputDecoder& d = decoder(sel);
  const kafka::InputFormatOptions& o = d.options();
  const std::string value(reinterpret_cast<const char*>(data + 1), size - 1);
  core::Record r = core::Record::owned(std::nullopt, value);
  const auto err = d.decode(r);
  const bool valid_utf8 = simdjson::validate_utf8(value.data(), value.size());

  if (err) {
    FUZZ_ASSERT(fuzz::known_dead_letter_code(err->code));
    FUZZ_ASSERT(!err->detail.empty());
    if (std::string_view(err->code) == code::kTooDeep)
      FUZZ_ASSERT(nesting(value) > kafka::kMaxJsonDepth);
  } else {
    FUZZ_ASSERT(!value.empty() && value.size() <= o.max_record_bytes);
    FUZZ_ASSERT(valid_utf8 || o.invalid_utf8 == kafka::Utf8Policy::kReplace);
    const std::string_view text = r.text();
    FUZZ_ASSERT(!text.empty());
    FUZZ_ASSERT(simdjson::validate_utf8(text.data(), text.size()));
    const std::string_view v = r.value();
    if (text.data() >= v.data() && text.data() < v.data() + v.size())
      FUZZ_ASSERT(text.data() + text.size() <= v.data() + v.size());
    if (valid_utf8) FUZZ_ASSERT(nesting(value) <= kafka::kMaxJsonDepth);
    // An id, group or key of "{" or "[" is never a structure's first byte
    // taken as a value; it can only come from a string that says so
    // ("key": "{", or a \u escape of it).
    auto from_string = [&](std::string_view field) {
      if (field != "{" && field != "[") return true;
      return value.find("\"" + std::string(field) + "\"") != std::string::npos ||
             value.find("\\u00") != std::string::npos;
    };
    FUZZ_ASSERT(from_string(r.id) && from_string(r.group));
    if (r.has_key()) FUZZ_ASSERT(from_string(r.key()));
  }

  // Differential check against simdjson's DOM parser (default options only,
  // valid UTF-8, within the size limit: the cases where both must agree).
  if (o.text_field != "text" || !valid_utf8 || value.empty() || value.size() > o.max_record_bytes)
    return 0;
  static simdjson::dom::parser dom;
  simdjson::dom::element root;
  const simdjson::error_code e = dom.parse(value).get(root);
  if (!err) {
    FUZZ_ASSERT(e == simdjson::SUCCESS || e == simdjson::NUMBER_ERROR);
    if (e == simdjson::SUCCESS) {
      std::string_view dom_text;
      FUZZ_ASSERT(root["text"].get(dom_text) == simdjson::SUCCESS);
      FUZZ_ASSERT(dom_text == r.text());
    }
  } else if (e == simdjson::SUCCESS && root.is_object() && !(sel & 2) &&
             std::string_view(err->code) != code::kTooDeep) {
    // (DOM does not count an empty innermost container, the decoder does.)
    std::string_view dom_text;
    if (root["text"].get(dom_text) == simdjson::SUCCESS && !dom_text.empty()) std::abort();
  }
  if (e == simdjson::DEPTH_ERROR) FUZZ_ASSERT(err.has_value());
  return 0;
}
