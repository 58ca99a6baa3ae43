// libFuzzer target over the recommendation event decoder
// (operators/recommend_event.h): every event value comes from outside.
// Any crash, out-of-bounds access, undefined behaviour, hang or broken
// invariant (abort) fails the run.
//
// Input: byte 0 bit 0 picks max_record_bytes (64 KiB or 256), the rest is the
// event value. Invariants:
//   - decode returns; an error carries a known dead-letter code and a detail;
//   - a success has user and item ids of 1..kMaxIdBytes bytes, valid UTF-8,
//     and a finite ts; the value was valid UTF-8 within max_record_bytes;
//   - against simdjson's DOM parser (an independent path through the same
//     grammar): a decoded event's value parses as an object whose first
//     "user" / "item" is the decoded id (a string's value, an integer's
//     digits) and whose "ts" is the decoded number; a value DOM reads as an
//     object with string ids and a finite ts, within the limits, decodes.
#ifndef NDEBUG
#define NDEBUG
#include <simdjson.h>
#undef NDEBUG
#else
#include <simdjson.h>
#endif

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "operators/recommend_event.h"
#include "src/core/dead_letter.h"
#include "tests/fuzz/fuzz_assert.h"

namespace {

using namespace sluice;
namespace code = core::dead_letter_code;

// The id DOM sees under `key`: a string's value or an integer's digits; "" if neither.
std::string dom_id(simdjson::dom::object& obj, const char* key) {
  simdjson::dom::element e;
  if (obj[key].get(e) != simdjson::SUCCESS) return "";
  std::string_view s;
  if (e.get(s) == simdjson::SUCCESS) return std::string(s);
  int64_t i = 0;
  if (e.get(i) == simdjson::SUCCESS) return std::to_string(i);
  uint64_t u = 0;
  if (e.get(u) == simdjson::SUCCESS) return std::to_string(u);
  return "";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t max_bytes = (data[0] & 1) ? 256 : 64 * 1024;
  static operators::EventDecoder big(64 * 1024), small(256);
  operators::EventDecoder& d = (data[0] & 1) ? small : big;
  const std::string value(reinterpret_cast<const char*>(data + 1), size - 1);
  core::Record r = core::Record::owned(std::nullopt, value);
  operators::RecommendEvent ev;
  const auto err = d.decode(r, ev);
  const bool valid_utf8 = simdjson::validate_utf8(value.data(), value.size());

  if (err) {
    FUZZ_ASSERT(fuzz::known_dead_letter_code(err->code));
    FUZZ_ASSERT(!err->detail.empty());
  } else {
    FUZZ_ASSERT(!value.empty() && value.size() <= max_bytes && valid_utf8);
    for (const std::string* id : {&ev.user, &ev.item}) {
      FUZZ_ASSERT(!id->empty() && id->size() <= operators::EventDecoder::kMaxIdBytes);
      FUZZ_ASSERT(simdjson::validate_utf8(id->data(), id->size()));
    }
    FUZZ_ASSERT(std::isfinite(ev.ts));
  }

  if (!valid_utf8 || value.empty() || value.size() > max_bytes) return 0;
  static simdjson::dom::parser dom;
  simdjson::dom::element root;
  const simdjson::error_code e = dom.parse(value).get(root);
  simdjson::dom::object obj;
  if (!err) {
    // simdjson's DOM refuses integers past 64 bits, which ids may be.
    if (e != simdjson::SUCCESS) return 0;
    FUZZ_ASSERT(root.get(obj) == simdjson::SUCCESS);
    // An integer id keeps the digits written: "-0" is DOM's 0.
    auto same = [](const std::string& dom, const std::string& id) {
      return dom == id || (dom == "0" && id == "-0");
    };
    const std::string u = dom_id(obj, "user"), i = dom_id(obj, "item");
    if (!u.empty()) FUZZ_ASSERT(same(u, ev.user));
    if (!i.empty()) FUZZ_ASSERT(same(i, ev.item));
    double ts = 0;
    simdjson::dom::element t;
    FUZZ_ASSERT(obj["ts"].get(t) == simdjson::SUCCESS);
    if (t.get(ts) == simdjson::SUCCESS) FUZZ_ASSERT(ts == ev.ts);
  } else if (e == simdjson::SUCCESS && root.get(obj) == simdjson::SUCCESS) {
    std::string_view u, i;
    double ts = 0;
    if (obj["user"].get(u) == simdjson::SUCCESS && obj["item"].get(i) == simdjson::SUCCESS &&
        obj["ts"].get(ts) == simdjson::SUCCESS && std::isfinite(ts) && !u.empty() && !i.empty() &&
        u.size() <= operators::EventDecoder::kMaxIdBytes &&
        i.size() <= operators::EventDecoder::kMaxIdBytes) {
      // The decoder may still refuse a rating or type of the wrong kind, or a too-deep value.
      const std::string_view c = err->code;
      FUZZ_ASSERT(c == code::kMissingField || c == code::kTooDeep);
    }
  }
  return 0;
}
