// Shared by the `sluice classify` tests: a random BERT classifier with a real
// tokenizer, real tweets, and the JSON-lines plumbing.
#pragma once
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/model_fixtures.h"

namespace sluice::testing {

inline std::filesystem::path shared_data() { return std::filesystem::path(SLUICE_SHARED_DATA); }

// A random BERT classifier over the bert-base-uncased vocabulary, with its tokenizer.json.
inline std::filesystem::path model_with_tokenizer() {
  const std::filesystem::path dir = engine::testing::random_model(
      "cli-bert",
      "--arch bert --layers 2 --hidden 64 --heads 4 --intermediate 128 --vocab 30522 "
      "--max-positions 128 --labels 3 --label-names negative,neutral,positive --seed 31");
  std::filesystem::copy_file(shared_data() / "bert-base-uncased" / "tokenizer.json",
                             dir / "tokenizer.json",
                             std::filesystem::copy_options::overwrite_existing);
  return dir;
}

inline std::vector<std::string> tweets(size_t n) {
  std::ifstream in(shared_data() / "tweeteval-sentiment" / "test_text.txt");
  std::vector<std::string> out;
  for (std::string line; out.size() < n && std::getline(in, line);) out.push_back(line);
  return out;
}

inline std::string join_lines(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

inline std::vector<nlohmann::json> parse_lines(const std::string& out) {
  std::vector<nlohmann::json> v;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) v.push_back(nlohmann::json::parse(line));
  return v;
}

}  // namespace sluice::testing
