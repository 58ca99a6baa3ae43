// Typed, read-only access to a validated configuration mapping.
//
// Only use on documents that passed validate(): accessors then cannot fail
// for declared keys (defaults are filled in). Asking for an undeclared or
// wrongly typed key is a programming error and throws std::logic_error
// naming the path.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace sluice::config {

class Section {
 public:
  Section() = default;
  Section(YAML::Node node, std::string path) : node_(std::move(node)), path_(std::move(path)) {}

  bool has(const std::string& key) const;  // present (given or defaulted) and not null
  std::string string(const std::string& key) const;
  int64_t integer(const std::string& key) const;
  double real(const std::string& key) const;
  bool boolean(const std::string& key) const;
  std::chrono::nanoseconds duration(const std::string& key) const;
  uint64_t bytes(const std::string& key) const;
  std::vector<std::string> strings(const std::string& key) const;
  std::map<std::string, std::string> string_map(const std::string& key) const;
  Section section(const std::string& key) const;
  std::vector<Section> list(const std::string& key) const;

  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }
  std::string path_of(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

 private:
  YAML::Node get(const std::string& key) const;
  YAML::Node node_;
  std::string path_;
};

}  // namespace sluice::config
