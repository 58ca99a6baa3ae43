// Reading the files tokenizers ship with, and checked access to their JSON:
// every error names the file and the JSON path. Start-up code only (throws
// TokenizerError).
#pragma once

#include <climits>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "src/core/input_file.h"
#include "src/text/tokenizer.h"
#include "src/text/wordpiece.h"  // Vocab

namespace sluice::text::detail {

// Every tokenizer file (tokenizer.json, vocab.txt, merges.txt, vocab.json,
// tokenizer_config.json, config.json) is read whole; the largest real ones
// are tens of MB (multilingual tokenizer.json).
inline constexpr uint64_t kMaxFileBytes = uint64_t{256} << 20;
// No real vocabulary has a token near this long (BERT's longest: 18 bytes;
// byte-level BPE: a few hundred at most); longer ones are refused rather
// than sizing tries and failure pops.
inline constexpr size_t kMaxTokenBytes = 4096;
// The longest model_max_length taken from any file: every encode buffer is
// this long (the tokenize stage's max_length has the same bound).
inline constexpr int32_t kMaxModelLength = 1 << 20;
// Real Sequence components have a handful of steps.
inline constexpr size_t kMaxSequenceSteps = 64;
// Real tokenizer files nest 5 levels; the loaders recurse on Sequence
// components, so nesting is bounded before parsing.
inline constexpr size_t kMaxJsonDepth = 64;

// The whole of a tokenizer file: a regular file of at most kMaxFileBytes
// (a FIFO or device is refused without blocking).
inline std::string read_file(const std::filesystem::path& path) {
  try {
    return core::read_file(path, kMaxFileBytes);
  } catch (const core::FileError& e) {
    throw TokenizerError(e.what());
  }
}

struct JsonCtx {
  std::string file;

  [[noreturn]] void fail(const std::string& at, const std::string& what) const {
    throw TokenizerError(file + ": " + (at.empty() ? "" : at + ": ") + what);
  }

  nlohmann::json parse_file(const std::filesystem::path& path) const {
    const std::string text = read_file(path);
    if (const auto key = core::json_depth_exceeded(text, kMaxJsonDepth))
      fail(*key, "nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    try {
      return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      fail("", std::string("invalid JSON: ") + e.what());
    }
  }

  const nlohmann::json& get(const nlohmann::json& j, const char* key, const std::string& at) const {
    if (!j.is_object() || !j.contains(key)) fail(at, std::string("missing \"") + key + "\"");
    return j[key];
  }
  std::string get_string(const nlohmann::json& j, const char* key, const std::string& at) const {
    const nlohmann::json& v = get(j, key, at);
    if (!v.is_string()) fail(at + "." + key, "expected a string");
    return v.get<std::string>();
  }
  const nlohmann::json& get_array(const nlohmann::json& j, const char* key,
                                  const std::string& at) const {
    const nlohmann::json& v = get(j, key, at);
    if (!v.is_array()) fail(at + "." + key, "expected an array");
    return v;
  }
  // A Sequence's list of components: each runs on every text encoded.
  const nlohmann::json& get_steps(const nlohmann::json& j, const char* key,
                                  const std::string& at) const {
    const nlohmann::json& v = get_array(j, key, at);
    if (v.size() > kMaxSequenceSteps)
      fail(at + "." + key, std::to_string(v.size()) + " steps, more than the " +
                               std::to_string(kMaxSequenceSteps) + " a Sequence may have");
    return v;
  }
  bool get_bool(const nlohmann::json& j, const char* key, bool def, const std::string& at) const {
    if (!j.contains(key) || j[key].is_null()) return def;
    if (!j[key].is_boolean()) fail(at + "." + key, "expected true or false");
    return j[key].get<bool>();
  }
  int32_t get_int(const nlohmann::json& j, const char* key, int32_t def, const std::string& at,
                  int32_t max = INT32_MAX) const {
    if (!j.contains(key) || j[key].is_null()) return def;
    if (!j[key].is_number_integer() || j[key].get<int64_t>() <= 0 || j[key].get<int64_t>() > max ||
        (j[key].is_number_unsigned() && j[key].get<uint64_t>() > uint64_t(max))) {
      fail(at + "." + key, "expected a positive integer up to " + std::to_string(max));
    }
    return j[key].get<int32_t>();
  }
  // A token id: an integer in [0, INT32_MAX].
  int32_t id(const nlohmann::json& j, const std::string& at) const {
    if (!j.is_number_integer() || j.get<int64_t>() < 0 || j.get<int64_t>() > INT32_MAX ||
        (j.is_number_unsigned() && j.get<uint64_t>() > INT32_MAX)) {
      fail(at, "expected a non-negative 32-bit id");
    }
    return j.get<int32_t>();
  }
  // A token's text, at most kMaxTokenBytes long.
  const std::string& token(const std::string& text, const std::string& at) const {
    if (text.size() > kMaxTokenBytes)
      fail(at, std::to_string(text.size()) + " bytes, more than the " +
                   std::to_string(kMaxTokenBytes) + " a token may have");
    return text;
  }
  // An object of token -> id.
  Vocab vocab(const nlohmann::json& j, const std::string& at) const {
    if (!j.is_object()) fail(at, "expected an object of token -> id");
    Vocab v;
    v.reserve(j.size());
    for (const auto& [text, value] : j.items()) {
      const std::string entry = at + "[\"" + token_excerpt(text) + "\"]";
      v[token(text, entry)] = id(value, entry);
    }
    return v;
  }
  // The first bytes of a token for an error path ("aaaa…" for a long one).
  static std::string token_excerpt(std::string_view text) {
    if (text.size() <= 40) return std::string(text);
    size_t n = 40;
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;  // whole characters
    return std::string(text.substr(0, n)) + "\u2026";
  }
  std::string type_of(const nlohmann::json& j, const std::string& at) const {
    const nlohmann::json& t = get(j, "type", at);
    if (!t.is_string()) fail(at + ".type", "expected a string");
    return t.get<std::string>();
  }
};

// A merges.txt line or tokenizer.json merge string: exactly "left right".
inline std::optional<std::pair<std::string, std::string>> split_merge_line(const std::string& s) {
  const size_t sp = s.find(' ');
  if (sp == std::string::npos || sp == 0 || sp + 1 >= s.size() ||
      s.find(' ', sp + 1) != std::string::npos) {
    return std::nullopt;
  }
  return std::make_pair(s.substr(0, sp), s.substr(sp + 1));
}

// A special-token entry of tokenizer_config.json: "text" or {"content": "text", ...}.
inline std::optional<std::string> config_token(const nlohmann::json& cfg, const char* key) {
  if (!cfg.is_object() || !cfg.contains(key)) return std::nullopt;
  const nlohmann::json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return v["content"].get<std::string>();
  }
  return std::nullopt;
}

}  // namespace sluice::text::detail
