// Typed, read-only access to a validated configuration mapping.
//
// Only use on documents that passed validate(): accessors then cannot fail
// for declared keys (defaults are filled in). Asking for an undeclared or
// wrongly typed key is a programming error and throws std::logic_error
// naming the path.
#pragma once
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::config {

// Which values of a loaded document came from the environment (${VAR}). They
// may be secrets (README: never echoed), whatever the key is called.
struct FromEnvironment {
  std::set<std::string, std::less<>> paths;  // key paths whose value used a variable
  struct Value {
    std::string variable;  // its name, e.g. SLUICE_MODEL
    std::string value;     // non-empty
  };
  std::vector<Value> values;  // the values substituted

  bool has(std::string_view path) const { return paths.find(path) != paths.end(); }
  // `text` with every substituted value replaced by the variable's name,
  // "${SLUICE_MODEL}/model.safetensors": for messages built from values at
  // start-up (after validation). The reader learns where the value came
  // from, never the value. Values under 4 characters are left as they are.
  std::string redact(std::string text) const;
};

class Section {
 public:
  Section() = default;
  // `env`: shared by every Section of one loaded document (and so by copies
  // that outlive the Loaded); may be null.
  Section(YAML::Node node, std::string path, std::shared_ptr<const FromEnvironment> env = nullptr)
      : node_(std::move(node)), path_(std::move(path)), env_(std::move(env)) {}

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
  std::string path_of(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }
  // True if the value at `key` (a dotted sub-path such as
  // "properties.security.protocol" is fine) came from the environment.
  bool from_environment(const std::string& key) const { return env_ && env_->has(path_of(key)); }

 private:
  YAML::Node get(const std::string& key) const;
  YAML::Node node_;
  std::string path_;
  std::shared_ptr<const FromEnvironment> env_;
};

}  // namespace sluice::config
