#include "operators/recommend_event.h"

// As in src/kafka/input_format.cpp: simdjson's development checks are on
// whenever NDEBUG is undefined, and sluice keeps asserts on in release.
#ifndef NDEBUG
#define NDEBUG
#include <simdjson.h>
#undef NDEBUG
#include <cassert>
#else
#include <simdjson.h>
#endif

#include <charconv>
#include <cmath>
#include <cstring>
#include <vector>

#include "src/core/dead_letter.h"

namespace sluice::operators {
namespace od = simdjson::ondemand;
namespace code = core::dead_letter_code;

namespace {

std::string_view trim_trailing_space(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool is_json_integer(std::string_view s) {
  size_t i = s.size() > 0 && s[0] == '-' ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

const char* type_name(od::json_type t) {
  switch (t) {
    case od::json_type::object:
      return "an object";
    case od::json_type::array:
      return "an array";
    case od::json_type::string:
      return "a string";
    case od::json_type::number:
      return "a number";
    case od::json_type::boolean:
      return "a boolean";
    case od::json_type::null:
      return "null";
  }
  return "?";
}

kafka::DecodeError invalid(std::string detail) { return {code::kInvalidJson, std::move(detail)}; }

}  // namespace

struct EventDecoder::Fields {
  od::parser parser;
  std::vector<char> buf;  // the value, with simdjson's padding after it
};

EventDecoder::EventDecoder(size_t max_record_bytes)
    : validator_([&] {
        kafka::InputFormatOptions o;
        o.format = kafka::InputFormat::kJson;
        o.text_field.clear();  // validate only: the fields are read below
        o.max_record_bytes = max_record_bytes;
        return o;
      }()),
      fields_(std::make_unique<Fields>()) {}

EventDecoder::~EventDecoder() = default;

std::optional<kafka::DecodeError> EventDecoder::decode(core::Record& record, RecommendEvent& ev) {
  if (auto e = validator_.decode(record)) return e;
  // Valid JSON object within the depth bound: top-level fields only from here.
  const std::string_view value = record.value();
  Fields& f = *fields_;
  if (f.buf.size() < value.size() + simdjson::SIMDJSON_PADDING)
    f.buf.resize(value.size() + simdjson::SIMDJSON_PADDING);
  std::memcpy(f.buf.data(), value.data(), value.size());
  od::document doc;
  od::object obj;
  if (f.parser.iterate(f.buf.data(), value.size(), f.buf.size()).get(doc) ||
      doc.get_object().get(obj))
    return invalid("invalid JSON: not an object");

  ev.user.clear();
  ev.item.clear();
  ev.type.clear();
  ev.rating.reset();
  bool have_user = false, have_item = false, have_ts = false, have_type = false;
  for (auto field_result : obj) {
    od::field field;
    std::string_view key;
    if (std::move(field_result).get(field) || field.unescaped_key().get(key))
      return invalid("invalid JSON");
    od::value v = field.value();
    const bool is_user = key == "user", is_item = key == "item";
    if (is_user || is_item) {
      if (is_user ? have_user : have_item) continue;  // the first of duplicate keys counts
      (is_user ? have_user : have_item) = true;
      std::string& out = is_user ? ev.user : ev.item;
      od::json_type t;
      if (v.type().get(t)) return invalid("invalid JSON");
      if (t == od::json_type::string) {
        std::string_view s;
        if (v.get_string().get(s)) return invalid("invalid JSON");
        out.assign(s);
      } else if (t == od::json_type::number) {
        const std::string_view raw = trim_trailing_space(v.raw_json_token());
        if (!is_json_integer(raw))
          return kafka::DecodeError{code::kMissingField,
                                    std::string("field '") + std::string(key) +
                                        "' is a number with a fraction or exponent, not an id"};
        out.assign(raw);
      } else {
        return kafka::DecodeError{code::kMissingField, std::string("field '") + std::string(key) +
                                                           "' is " + type_name(t) +
                                                           ", not a string or an integer"};
      }
      if (out.empty())
        return kafka::DecodeError{code::kMissingField,
                                  std::string("field '") + std::string(key) + "' is empty"};
      if (out.size() > kMaxIdBytes)
        return kafka::DecodeError{code::kTooLarge, std::string("field '") + std::string(key) +
                                                       "' is " + std::to_string(out.size()) +
                                                       " bytes, more than " +
                                                       std::to_string(kMaxIdBytes)};
    } else if (key == "ts" || key == "rating") {
      const bool is_ts = key == "ts";
      if (is_ts ? have_ts : ev.rating.has_value()) continue;
      od::json_type t;
      if (v.type().get(t)) return invalid("invalid JSON");
      double d = 0;
      bool ok = t == od::json_type::number;
      if (ok) {
        const std::string_view raw = trim_trailing_space(v.raw_json_token());
        auto [p, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), d);
        ok = ec == std::errc() && p == raw.data() + raw.size() && std::isfinite(d);
      }
      if (!ok)
        return kafka::DecodeError{code::kMissingField,
                                  std::string("field '") + std::string(key) + "' is " +
                                      (t == od::json_type::number ? "out of range" : type_name(t)) +
                                      ", not a finite number"};
      if (is_ts) {
        ev.ts = d;
        have_ts = true;
      } else {
        ev.rating = d;
      }
    } else if (key == "type") {
      if (have_type) continue;
      have_type = true;
      std::string_view s;
      if (v.get_string().get(s))
        return kafka::DecodeError{code::kMissingField, "field 'type' is not a string"};
      ev.type.assign(s);
    }
    // Anything else is not ours: skipped (the validator has walked it).
  }
  if (!have_user) return kafka::DecodeError{code::kMissingField, "field 'user' not found"};
  if (!have_item) return kafka::DecodeError{code::kMissingField, "field 'item' not found"};
  if (!have_ts) return kafka::DecodeError{code::kMissingField, "field 'ts' not found"};
  return std::nullopt;
}

}  // namespace sluice::operators
