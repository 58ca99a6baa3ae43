// Loading a pipeline file: parse YAML, substitute ${ENV} / ${ENV:-default},
// apply --set overrides, validate against a schema.
//
// Secrets: values that came from environment variables are never echoed in
// error messages, and nothing here logs configuration values.
//
// Hostile files end in a ConfigError too, at bounded cost: see limits.h
// (file size, nodes with aliases expanded, nesting), duplicate keys and keys
// that are not names.
#pragma once
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "src/config/schema.h"
#include "src/config/section.h"

namespace sluice::config {

// All problems found in a configuration; what() lists them one per line.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string source, std::vector<Problem> problems);
  const std::vector<Problem>& problems() const { return problems_; }
  const std::string& source() const { return source_; }

 private:
  std::vector<Problem> problems_;
  std::string source_;
};

// Replaces ${NAME} and ${NAME:-default} in every scalar of `doc` (in place).
// A variable that is unset (and has no default) is a problem at that key's
// path. `env` receives the paths whose value used a variable (an alias of
// such a value included) and the values substituted. Use $${ for a literal "${".
// `doc` must have passed check_shape (limits.h).
void substitute_env(YAML::Node doc, std::vector<Problem>& problems, FromEnvironment& env);

// Applies "a.b.c=value" to `doc`. List elements are addressed by index
// ("stages.1.workers=4") or, for lists of mappings with a `name`, by name
// ("stages.tokenize.workers=4"). After a key that `schema` declares a map of
// strings (kafka.properties, kafka.consumer_properties, ...), the rest of the
// path is one key, because those keys are librdkafka property names with dots
// of their own: "kafka.properties.security.protocol=SSL". The value is parsed
// as YAML ("[a, b]" is a list).
void apply_override(YAML::Node doc, const std::string& assignment, std::vector<Problem>& problems,
                    const Schema* schema = nullptr);

struct Loaded {
  YAML::Node doc;                              // validated, defaults filled in
  std::shared_ptr<const FromEnvironment> env;  // shared with every Section of root()
  Section root() const { return Section(doc, "", env); }
  // For messages built from configuration values after loading.
  std::string redact(std::string text) const { return env ? env->redact(std::move(text)) : text; }
};

// Reads `path` (at most kMaxFileBytes), applies `overrides`, substitutes the
// environment, validates. Throws ConfigError listing every problem (file
// errors included).
Loaded load_file(const std::filesystem::path& path, const Schema& schema,
                 const std::vector<std::string>& overrides = {});
Loaded load_string(const std::string& text, const Schema& schema,
                   const std::vector<std::string>& overrides = {},
                   const std::string& source = "<string>");

}  // namespace sluice::config
