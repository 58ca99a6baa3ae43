// Checked access to the JSON files tokenizers ship with: every error names the
// file and the JSON path. Start-up code only (throws TokenizerError).
#pragma once

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "src/text/tokenizer.h"

namespace sluice::text::detail {

struct JsonCtx {
  std::string file;

  [[noreturn]] void fail(const std::string& at, const std::string& what) const {
    throw TokenizerError(file + ": " + (at.empty() ? "" : at + ": ") + what);
  }

  nlohmann::json parse_file(const std::filesystem::path& path) const {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("", "cannot open file");
    std::stringstream buf;
    buf << in.rdbuf();
    try {
      return nlohmann::json::parse(buf.str());
    } catch (const nlohmann::json::parse_error& e) {
      fail("", std::string("invalid JSON: ") + e.what());
    }
  }

  const nlohmann::json& get(const nlohmann::json& j, const char* key, const std::string& at) const {
    if (!j.is_object() || !j.contains(key)) fail(at, std::string("missing \"") + key + "\"");
    return j[key];
  }
  const nlohmann::json& get_array(const nlohmann::json& j, const char* key,
                                  const std::string& at) const {
    const nlohmann::json& v = get(j, key, at);
    if (!v.is_array()) fail(at + "." + key, "expected an array");
    return v;
  }
  bool get_bool(const nlohmann::json& j, const char* key, bool def, const std::string& at) const {
    if (!j.contains(key) || j[key].is_null()) return def;
    if (!j[key].is_boolean()) fail(at + "." + key, "expected true or false");
    return j[key].get<bool>();
  }
  int32_t get_int(const nlohmann::json& j, const char* key, int32_t def,
                  const std::string& at) const {
    if (!j.contains(key) || j[key].is_null()) return def;
    if (!j[key].is_number_integer() || j[key].get<int64_t>() <= 0 ||
        j[key].get<int64_t>() > INT32_MAX) {
      fail(at + "." + key, "expected a positive integer");
    }
    return j[key].get<int32_t>();
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
