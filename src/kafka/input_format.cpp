#include "src/kafka/input_format.h"

// simdjson enables its development checks (internal asserts, slower paths)
// whenever NDEBUG is undefined, and sluice's release builds keep asserts on.
// Those checks are for simdjson's own development: include it as a release
// build would, then restore assert for this file.
#ifndef NDEBUG
#define NDEBUG
#include <simdjson.h>
#undef NDEBUG
#include <cassert>
#else
#include <simdjson.h>
#endif

#include <cstring>
#include <stdexcept>

#include "src/core/dead_letter.h"

namespace sluice::kafka {
namespace od = simdjson::ondemand;
namespace code = core::dead_letter_code;

namespace {

enum Field : int { kText = 0, kId = 1, kKey = 2, kGroup = 3, kFields = 4 };
constexpr const char* kFieldOption[kFields] = {"text_field", "id_field", "key_field",
                                               "group_field"};

std::vector<std::string> split_path(const std::string& path, const char* option) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t dot = path.find('.', start);
    std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) {
      throw std::invalid_argument(std::string(option) + ": '" + path +
                                  "' is not a field path (names separated by single dots)");
    }
    parts.push_back(std::move(part));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

std::string_view trim_trailing_space(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

DecodeError json_error(simdjson::error_code e) {
  if (e == simdjson::UTF8_ERROR) return {code::kInvalidUtf8, "value is not valid UTF-8"};
  return {code::kInvalidJson, std::string("invalid JSON: ") + simdjson::error_message(e)};
}

}  // namespace

struct InputDecoder::Json {
  struct Want {
    std::vector<std::string> path;
    Field field;
  };
  struct Found {
    bool present = false;
    bool is_string = false;
    std::string_view raw;  // the token as written (quotes included for strings)
    std::string_view str;  // unescaped string (parser-owned until the next document)
  };

  od::parser parser;
  std::vector<char> buf;  // the value, copied with simdjson's padding after it
  std::vector<Want> wants;
  Found found[kFields];

  // Walks the whole value (so the whole document is validated) and records
  // the wanted fields. `mask`: wants whose path matched down to `depth`.
  simdjson::error_code walk(od::value v, size_t depth, uint32_t mask) {
    uint32_t target = 0;
    for (size_t i = 0; i < wants.size(); ++i)
      if ((mask >> i & 1) && wants[i].path.size() == depth) target |= 1u << i;
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    std::string_view raw;
    if (target) {
      raw = trim_trailing_space(v.raw_json_token());
    }
    auto record = [&](bool is_string, std::string_view str) {
      for (size_t i = 0; i < wants.size(); ++i) {
        Found& f = found[wants[i].field];
        if ((target >> i & 1) && !f.present) f = Found{true, is_string, raw, str};
      }
    };
    switch (type) {
      case od::json_type::object: {
        od::object obj;
        if (auto e = v.get_object().get(obj)) return e;
        record(false, {});
        return walk_object(obj, depth, mask & ~target);
      }
      case od::json_type::array: {
        od::array arr;
        if (auto e = v.get_array().get(arr)) return e;
        record(false, {});
        for (auto element : arr) {
          od::value child;
          if (auto e = element.get(child)) return e;
          if (auto e = walk(child, depth + 1, 0)) return e;
        }
        return simdjson::SUCCESS;
      }
      case od::json_type::string: {
        std::string_view s;
        if (auto e = v.get_string().get(s)) return e;
        record(true, s);
        return simdjson::SUCCESS;
      }
      case od::json_type::number: {
        od::number n;
        if (auto e = v.get_number().get(n)) return e;
        record(false, {});
        return simdjson::SUCCESS;
      }
      case od::json_type::boolean: {
        bool b;
        if (auto e = v.get_bool().get(b)) return e;
        record(false, {});
        return simdjson::SUCCESS;
      }
      case od::json_type::null: {
        bool is_null;
        if (auto e = v.is_null().get(is_null)) return e;
        if (!is_null) return simdjson::INCORRECT_TYPE;
        return simdjson::SUCCESS;  // a null field counts as absent
      }
    }
    return simdjson::INCORRECT_TYPE;
  }

  simdjson::error_code walk_object(od::object& obj, size_t depth, uint32_t mask) {
    for (auto field_result : obj) {
      od::field field;
      if (auto e = std::move(field_result).get(field)) return e;
      std::string_view key;
      if (auto e = field.unescaped_key().get(key)) return e;
      uint32_t child = 0;
      for (size_t i = 0; i < wants.size(); ++i)
        if ((mask >> i & 1) && wants[i].path[depth] == key) child |= 1u << i;
      if (auto e = walk(field.value(), depth + 1, child)) return e;
    }
    return simdjson::SUCCESS;
  }
};

InputDecoder::InputDecoder(InputFormatOptions options) : options_(std::move(options)) {
  if (options_.max_record_bytes == 0)
    throw std::invalid_argument("max_record_bytes must be positive");
  if (options_.format != InputFormat::kJson) return;
  json_ = std::make_unique<Json>();
  const std::string* paths[kFields] = {&options_.text_field, &options_.id_field,
                                       &options_.key_field, &options_.group_field};
  if (options_.text_field.empty())
    throw std::invalid_argument("text_field: required for json input");
  for (int f = 0; f < kFields; ++f) {
    if (paths[f]->empty()) continue;
    json_->wants.push_back({split_path(*paths[f], kFieldOption[f]), static_cast<Field>(f)});
  }
}

InputDecoder::~InputDecoder() = default;

std::optional<DecodeError> InputDecoder::decode(core::Record& r) {
  std::string_view value = r.value();
  if (value.empty()) return DecodeError{code::kEmpty, "empty value"};
  if (value.size() > options_.max_record_bytes) {
    return DecodeError{code::kTooLarge, "value is " + std::to_string(value.size()) +
                                            " bytes, max_record_bytes is " +
                                            std::to_string(options_.max_record_bytes)};
  }
  const bool valid_utf8 = simdjson::validate_utf8(value.data(), value.size());
  if (!valid_utf8 && options_.invalid_utf8 == Utf8Policy::kReject) {
    return DecodeError{code::kInvalidUtf8, "value is not valid UTF-8"};
  }
  if (options_.format == InputFormat::kRaw) {
    if (valid_utf8) {
      r.set_text_view(value);
    } else {
      r.set_text(replace_invalid_utf8(value));
    }
    return std::nullopt;
  }
  if (valid_utf8) return decode_json(r, value, true);
  sanitized_ = replace_invalid_utf8(value);
  return decode_json(r, sanitized_, false);
}

std::optional<DecodeError> InputDecoder::decode_json(core::Record& r, std::string_view json,
                                                     bool json_is_value) {
  Json& j = *json_;
  if (j.buf.size() < json.size() + simdjson::SIMDJSON_PADDING)
    j.buf.resize(json.size() + simdjson::SIMDJSON_PADDING);
  std::memcpy(j.buf.data(), json.data(), json.size());
  for (auto& f : j.found) f = Json::Found{};

  od::document doc;
  if (auto e = j.parser.iterate(j.buf.data(), json.size(), j.buf.size()).get(doc))
    return json_error(e);
  od::json_type type;
  if (auto e = doc.type().get(type)) return json_error(e);
  if (type != od::json_type::object) {
    // Valid JSON that is not an object lacks the field; anything else is malformed.
    simdjson::error_code e = simdjson::SUCCESS;
    switch (type) {
      case od::json_type::array: {
        od::array arr;
        if ((e = doc.get_array().get(arr))) break;
        for (auto element : arr) {
          od::value child;
          if ((e = element.get(child)) || (e = j.walk(child, 1, 0))) break;
        }
        break;
      }
      case od::json_type::string:
        e = doc.get_string().error();
        break;
      case od::json_type::number:
        e = doc.get_number().error();
        break;
      case od::json_type::boolean:
        e = doc.get_bool().error();
        break;
      case od::json_type::null: {
        bool is_null = false;
        e = doc.is_null().get(is_null);
        if (!e && !is_null) e = simdjson::INCORRECT_TYPE;
        break;
      }
      default:
        e = simdjson::INCORRECT_TYPE;
    }
    if (!e && doc.current_location().error() != simdjson::OUT_OF_BOUNDS)
      e = simdjson::TRAILING_CONTENT;
    if (e) return json_error(e);
    return DecodeError{code::kMissingField,
                       "field '" + options_.text_field + "' not found: the value is a JSON " +
                           (type == od::json_type::array ? "array" : "scalar") + ", not an object"};
  }
  od::object obj;
  if (auto e = doc.get_object().get(obj)) return json_error(e);
  if (auto e = j.walk_object(obj, 0, (1u << j.wants.size()) - 1)) return json_error(e);
  // Fully consumed documents report OUT_OF_BOUNDS; anything else is trailing content.
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
    return DecodeError{code::kInvalidJson, "invalid JSON: content after the top-level object"};
  }

  const Json::Found& text = j.found[kText];
  if (!text.present)
    return DecodeError{code::kMissingField, "field '" + options_.text_field + "' not found"};
  if (!text.is_string) {
    return DecodeError{code::kMissingField, "field '" + options_.text_field + "' is not a string"};
  }
  if (text.str.empty())
    return DecodeError{code::kEmpty, "field '" + options_.text_field + "' is empty"};

  // Zero-copy when the string needs no unescaping: its bytes sit in the
  // message at the same offset as in our padded copy.
  std::string_view inner =
      text.raw.size() >= 2 ? text.raw.substr(1, text.raw.size() - 2) : std::string_view();
  if (json_is_value && inner.size() == text.str.size() &&
      inner.find('\\') == std::string_view::npos) {
    size_t offset = static_cast<size_t>(inner.data() - j.buf.data());
    r.set_text_view(r.value().substr(offset, inner.size()));
  } else {
    r.set_text(std::string(text.str));
  }
  auto scalar = [](const Json::Found& f) { return f.is_string ? f.str : f.raw; };
  if (j.found[kId].present) r.id.assign(scalar(j.found[kId]));
  if (j.found[kKey].present) r.set_key(std::string(scalar(j.found[kKey])));
  if (j.found[kGroup].present) r.group.assign(scalar(j.found[kGroup]));
  return std::nullopt;
}

std::string replace_invalid_utf8(std::string_view s) {
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(s.size() + 8);
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    }
    if (len == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    size_t k = 1;
    for (; k < len && i + k < n; ++k) {
      unsigned char b = p[i + k];
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) break;
    }
    if (k == len) {
      out.append(s.substr(i, len));
    } else {
      out += kReplacement;  // the maximal invalid prefix becomes one U+FFFD
    }
    i += k;
  }
  return out;
}

}  // namespace sluice::kafka
