// Shared by the tokenizer tests: where fixtures and shared data live, and
// readers for the inputs and golden files tools/tokenizer_goldens.mjs writes.
#pragma once

#include <charconv>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace sluice::text::testing {

namespace fs = std::filesystem;

inline const fs::path kFixtures = fs::path(SLUICE_FIXTURES) / "tokenizer";
inline const fs::path kGoldens = kFixtures / "goldens";
inline const fs::path kSharedData = fs::path(SLUICE_SHARED_DATA);
inline const fs::path kBertDir = kSharedData / "bert-base-uncased";
inline const fs::path kBpeDir = kFixtures / "sst2-bpe";
inline const fs::path kBpeLegacyDir = kFixtures / "sst2-bpe-legacy";

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Lines split on '\n' only (a final newline ends the last line).
inline std::vector<std::string> read_lines(const fs::path& p) {
  const std::string all = read_file(p);
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < all.size()) {
    size_t nl = all.find('\n', start);
    if (nl == std::string::npos) nl = all.size();
    lines.push_back(all.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

// SST-2 .tsv: the header skipped, each row's text before its last tab.
inline std::vector<std::string> read_sst2(const fs::path& p) {
  std::vector<std::string> out;
  const auto lines = read_lines(p);
  for (size_t i = 1; i < lines.size(); ++i) {
    if (!lines[i].empty()) out.push_back(lines[i].substr(0, lines[i].rfind('\t')));
  }
  return out;
}

struct EdgeCase {
  std::string name;
  std::string text;
};
inline std::vector<EdgeCase> read_edge_cases() {
  std::vector<EdgeCase> out;
  for (const auto& line : read_lines(kFixtures / "edge_cases.jsonl")) {
    const auto j = nlohmann::json::parse(line);
    out.push_back({j["case"].get<std::string>(), j["text"].get<std::string>()});
  }
  return out;
}

// A golden file: one JSON array of ids per line.
inline std::vector<std::vector<int32_t>> read_ids(const fs::path& p) {
  std::vector<std::vector<int32_t>> out;
  for (const auto& line : read_lines(p)) {
    std::vector<int32_t> ids;
    const char* s = line.data();
    const char* end = s + line.size();
    while (s < end) {
      if (*s >= '0' && *s <= '9') {
        int32_t v = 0;
        s = std::from_chars(s, end, v).ptr;
        ids.push_back(v);
      } else {
        ++s;
      }
    }
    out.push_back(std::move(ids));
  }
  return out;
}

inline std::string ids_to_json(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(ids[i]);
  }
  return s + "]";
}

}  // namespace sluice::text::testing
