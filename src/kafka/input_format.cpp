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

static_assert(sluice::kafka::kMaxJsonDepth + 1 == simdjson::DEFAULT_MAX_DEPTH);

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
  if (e == simdjson::DEPTH_ERROR) {
    return {code::kTooDeep,
            "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " objects and arrays"};
  }
  return {code::kInvalidJson, std::string("invalid JSON: ") + simdjson::error_message(e)};
}

// A JSON number as RFC 8259 writes it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
// Checked on the token rather than parsed: a number is only ever kept as
// written (an id, a key), so one outside double range (1e400, a 30-digit
// integer), which simdjson's number parser rejects, is still valid JSON.
bool is_json_number(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  auto digit = [&](size_t k) { return k < n && s[k] >= '0' && s[k] <= '9'; };
  auto digits = [&] {
    if (!digit(i)) return false;
    while (digit(i)) ++i;
    return true;
  };
  if (i < n && s[i] == '-') ++i;
  if (i < n && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < n && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == n;
}

const char* container_name(od::json_type t) {
  return t == od::json_type::object ? "an object" : "an array";
}

}  // namespace

struct InputDecoder::Json {
  struct Want {
    std::vector<std::string> path;
    Field field;
  };
  struct Found {
    bool present = false;
    od::json_type type = od::json_type::null;
    std::string_view raw;  // the token as written (quotes included for strings; "{" or "[")
    std::string_view str;  // unescaped string (parser-owned until the next document)
  };
  // One open object or array of the walk. The walk keeps its own stack of
  // these instead of recursing, because the input decides how deep a
  // document nests; the stack holds at most kMaxJsonDepth frames (~100 KB)
  // and keeps its capacity, so steady state allocates nothing.
  struct Frame {
    bool is_object = false;
    bool advance = false;  // an element was taken: step past it before the next
    uint32_t mask = 0;     // objects: wants whose path matched down to this object
    od::object_iterator field{}, fields_end{};
    od::array_iterator element{}, elements_end{};
  };

  od::parser parser;
  std::vector<char> buf;  // the value, copied with simdjson's padding after it
  std::vector<Want> wants;
  Found found[kFields];
  std::vector<Frame> stack;

  Json() { stack.reserve(16); }

  // Walks a whole root object or array (so the whole document is validated)
  // and records the wanted fields. Too deep → simdjson::DEPTH_ERROR.
  simdjson::error_code walk(od::object root) {
    stack.clear();
    if (auto e = open_object(root, (1u << wants.size()) - 1)) return e;
    return run();
  }
  simdjson::error_code walk(od::array root) {
    stack.clear();
    if (auto e = open_array(root)) return e;
    return run();
  }

 private:
  simdjson::error_code open_object(od::object& obj, uint32_t mask) {
    if (stack.size() >= kMaxJsonDepth) return simdjson::DEPTH_ERROR;
    Frame& f = stack.emplace_back();
    f.is_object = true;
    f.mask = mask;
    if (auto e = obj.begin().get(f.field)) return e;
    return obj.end().get(f.fields_end);
  }
  simdjson::error_code open_array(od::array& arr) {
    if (stack.size() >= kMaxJsonDepth) return simdjson::DEPTH_ERROR;
    Frame& f = stack.emplace_back();
    if (auto e = arr.begin().get(f.element)) return e;
    return arr.end().get(f.elements_end);
  }

  simdjson::error_code run() {
    while (!stack.empty()) {
      Frame& f = stack.back();
      const size_t depth = stack.size();  // path length of f's children
      od::value child;
      uint32_t child_mask = 0;
      if (f.is_object) {
        if (f.advance) ++f.field;
        if (!(f.field != f.fields_end)) {
          stack.pop_back();
          continue;
        }
        f.advance = true;
        od::field field;
        if (auto e = (*f.field).get(field)) return e;
        std::string_view key;
        if (auto e = field.unescaped_key().get(key)) return e;
        for (size_t i = 0; i < wants.size(); ++i)
          if ((f.mask >> i & 1) && wants[i].path[depth - 1] == key) child_mask |= 1u << i;
        child = field.value();
      } else {
        if (f.advance) ++f.element;
        if (!(f.element != f.elements_end)) {
          stack.pop_back();
          continue;
        }
        f.advance = true;
        if (auto e = (*f.element).get(child)) return e;
      }
      if (auto e = visit(child, depth, child_mask)) return e;
    }
    return simdjson::SUCCESS;
  }

  // Validates a scalar, or opens a container (pushing a frame: `f` above is
  // not used after this), and records the wants that end at this value.
  simdjson::error_code visit(od::value& v, size_t depth, uint32_t mask) {
    uint32_t target = 0;
    for (size_t i = 0; i < wants.size(); ++i)
      if ((mask >> i & 1) && wants[i].path.size() == depth) target |= 1u << i;
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    std::string_view raw;
    if (target || type == od::json_type::number) raw = trim_trailing_space(v.raw_json_token());
    auto record = [&](std::string_view str) {
      for (size_t i = 0; i < wants.size(); ++i) {
        Found& f = found[wants[i].field];
        if ((target >> i & 1) && !f.present) f = Found{true, type, raw, str};
      }
    };
    switch (type) {
      case od::json_type::object: {
        od::object obj;
        if (auto e = v.get_object().get(obj)) return e;
        record({});
        return open_object(obj, mask & ~target);
      }
      case od::json_type::array: {
        od::array arr;
        if (auto e = v.get_array().get(arr)) return e;
        record({});
        return open_array(arr);
      }
      case od::json_type::string: {
        std::string_view s;
        if (auto e = v.get_string().get(s)) return e;
        record(s);
        return simdjson::SUCCESS;
      }
      case od::json_type::number:
        // Left unconsumed: the next step of the enclosing iterator skips it.
        if (!is_json_number(raw)) return simdjson::NUMBER_ERROR;
        record({});
        return simdjson::SUCCESS;
      case od::json_type::boolean: {
        bool b;
        if (auto e = v.get_bool().get(b)) return e;
        record({});
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
};

InputDecoder::InputDecoder(InputFormatOptions options) : options_(std::move(options)) {
  if (options_.max_record_bytes == 0)
    throw std::invalid_argument("max_record_bytes must be positive");
  if (options_.format != InputFormat::kJson) return;
  json_ = std::make_unique<Json>();
  const std::string* paths[kFields] = {&options_.text_field, &options_.id_field,
                                       &options_.key_field, &options_.group_field};
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
        if (!(e = doc.get_array().get(arr))) e = j.walk(arr);
        break;
      }
      case od::json_type::string:
        e = doc.get_string().error();
        break;
      case od::json_type::number: {
        std::string_view raw;
        if ((e = doc.raw_json_token().get(raw))) break;
        if (!is_json_number(trim_trailing_space(raw))) {
          e = simdjson::NUMBER_ERROR;
          break;
        }
        e = doc.raw_json().error();  // consumes it, for the trailing-content check
        break;
      }
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
    const std::string what = std::string("the value is a JSON ") +
                             (type == od::json_type::array ? "array" : "scalar") +
                             ", not an object";
    if (options_.text_field.empty()) return DecodeError{code::kInvalidJson, what};
    return DecodeError{code::kMissingField,
                       "field '" + options_.text_field + "' not found: " + what};
  }
  od::object obj;
  if (auto e = doc.get_object().get(obj)) return json_error(e);
  if (auto e = j.walk(obj)) return json_error(e);
  // Fully consumed documents report OUT_OF_BOUNDS; anything else is trailing content.
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
    return DecodeError{code::kInvalidJson, "invalid JSON: content after the top-level object"};
  }

  const Json::Found& text = j.found[kText];
  const bool want_text = !options_.text_field.empty();
  if (want_text) {
    if (!text.present)
      return DecodeError{code::kMissingField, "field '" + options_.text_field + "' not found"};
    if (text.type != od::json_type::string) {
      return DecodeError{code::kMissingField,
                         "field '" + options_.text_field + "' is not a string"};
    }
    if (text.str.empty())
      return DecodeError{code::kEmpty, "field '" + options_.text_field + "' is empty"};
  }

  for (int f = kId; f < kFields; ++f) {
    const Json::Found& found = j.found[f];
    if (found.present &&
        (found.type == od::json_type::object || found.type == od::json_type::array)) {
      const std::string& path = f == kId    ? options_.id_field
                                : f == kKey ? options_.key_field
                                            : options_.group_field;
      return DecodeError{code::kMissingField, "field '" + path + "' is " +
                                                  container_name(found.type) +
                                                  ", not a string, number or boolean"};
    }
  }
  if (want_text) {
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
  }
  auto scalar = [](const Json::Found& f) {
    return f.type == od::json_type::string ? f.str : f.raw;
  };
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
