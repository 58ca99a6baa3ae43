#include "src/engine/model_identity.h"

#include <regex>
#include <sstream>
#include <stdexcept>

#include "src/core/input_file.h"
#include "src/core/sha256.h"
#include "src/engine/model_error.h"

namespace sluice::engine {

std::string card_version(const std::string& card) {
  // Front matter (Hugging Face cards) or a table row (ours); the first wins.
  static const std::regex kLine(
      R"(^\s*(?:version\s*:\s*(\S[^\r\n]*?)|\|\s*version\s*\|\s*([^|\r\n]*?)\s*\|.*)\s*$)",
      std::regex::icase);
  std::istringstream in(card);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, kLine)) {
      std::string v = m[1].matched ? m[1].str() : m[2].str();
      if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
        v = v.substr(1, v.size() - 2);
      if (!v.empty()) return v;
    }
  }
  return "";
}

ModelIdentity identify_model(const std::filesystem::path& dir) {
  core::Sha256 all;
  for (const char* name : kIdentityFiles) {
    const auto path = dir / name;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) continue;
    std::string line;
    try {
      line = core::sha256_file(path);
    } catch (const std::runtime_error& e) {
      throw ModelError(path.string(), e.what());
    }
    line += "  ";
    line += name;
    line += '\n';
    all.update(line);
  }
  ModelIdentity id;
  id.hash = all.hex().substr(0, 16);
  std::error_code ec;
  const auto card = dir / "README.md";
  if (std::filesystem::is_regular_file(card, ec)) {
    try {
      id.version = card_version(core::read_file(card, 1 << 20));
    } catch (const std::exception&) {
      // A card too large or unreadable names no version; it never fails a load.
    }
  }
  return id;
}

}  // namespace sluice::engine
