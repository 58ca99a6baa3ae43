// Pipeline configuration schema: every key declared once, with its type,
// default and description (Redpanda-style property declarations).
//
// A Schema describes one YAML mapping. validate() checks a parsed document
// against it and returns *all* problems, each with its full key path
// ("stages[2].max_delay: expected a duration like 5ms or 2s, got 'fast'"), so
// `sluice validate` can list them at once; on success it returns the document
// with defaults filled in, ready for typed access through Section.
//
// Stage lists are discriminated: the schema of each element is chosen by the
// value of one of its keys (a stage's `type:` selects its operator's options).
#pragma once
#include <yaml-cpp/yaml.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/config/section.h"

namespace sluice::config {

enum class Type {
  kString,
  kInt,
  kFloat,
  kBool,
  kDuration,    // "250us", "5ms", "2s", "1m", "1h"
  kBytes,       // 1024, "64KiB", "16MB", "1GiB"
  kEnum,        // one of the declared choices
  kStringList,  // [a, b] (a single scalar is accepted as a one-element list)
  kStringMap,   // {key: scalar, ...}: values kept as strings (e.g. librdkafka properties)
  kObject,      // nested mapping with its own schema
  kObjectList,  // list of mappings, each with a fixed or discriminated schema
  kAny,         // free-form (checked by the operator itself)
};

std::string_view type_name(Type t);

class Schema;

struct Key {
  std::string name;
  Type type = Type::kString;
  std::string description;
  bool required = false;
  std::optional<std::string> default_value;  // YAML scalar text
  std::vector<std::string> choices;          // kEnum
  std::optional<double> min, max;            // kInt / kFloat / kDuration (seconds) / kBytes
  std::shared_ptr<const Schema> object;      // kObject, and kObjectList with a fixed element schema
  // kObjectList, discriminated: element schema chosen by the value of `discriminator`.
  std::string discriminator;
  std::function<std::shared_ptr<const Schema>(std::string_view value, std::string* known)> select;

  // Fluent modifiers, for declarations that read like a table.
  Key& def(std::string v) {
    default_value = std::move(v);
    return *this;
  }
  Key& req() {
    required = true;
    return *this;
  }
  Key& range(std::optional<double> lo, std::optional<double> hi) {
    min = lo;
    max = hi;
    return *this;
  }
};

class Schema {
 public:
  explicit Schema(std::string description = {}) : description_(std::move(description)) {}

  Key& add(std::string name, Type type, std::string description);
  Key& string(std::string name, std::string description) {
    return add(std::move(name), Type::kString, std::move(description));
  }
  Key& integer(std::string name, std::string description) {
    return add(std::move(name), Type::kInt, std::move(description));
  }
  Key& real(std::string name, std::string description) {
    return add(std::move(name), Type::kFloat, std::move(description));
  }
  Key& boolean(std::string name, std::string description) {
    return add(std::move(name), Type::kBool, std::move(description));
  }
  Key& duration(std::string name, std::string description) {
    return add(std::move(name), Type::kDuration, std::move(description));
  }
  Key& bytes(std::string name, std::string description) {
    return add(std::move(name), Type::kBytes, std::move(description));
  }
  Key& choice(std::string name, std::vector<std::string> choices, std::string description);
  Key& strings(std::string name, std::string description) {
    return add(std::move(name), Type::kStringList, std::move(description));
  }
  Key& string_map(std::string name, std::string description) {
    return add(std::move(name), Type::kStringMap, std::move(description));
  }
  Key& object(std::string name, std::shared_ptr<const Schema> schema, std::string description);
  Key& object_list(std::string name, std::shared_ptr<const Schema> element,
                   std::string description);
  Key& object_list(
      std::string name, std::string discriminator,
      std::function<std::shared_ptr<const Schema>(std::string_view, std::string*)> select,
      std::string description);

  // Copies every key of `other` into this schema (e.g. common stage keys).
  void include(const Schema& other);

  const std::vector<Key>& keys() const { return keys_; }
  const Key* find(std::string_view name) const;
  const std::string& description() const { return description_; }

  // Human-readable reference of every key (for `sluice validate --explain`).
  void describe(std::ostream& os, const std::string& prefix = {}) const;

 private:
  std::string description_;
  std::vector<Key> keys_;
};

struct Problem {
  std::string path;
  std::string message;
};

// Validates `doc` (a mapping) against `schema`. Returns a copy with defaults
// filled in; appends every problem found to `problems` (empty = valid).
// `env`: keys whose values came from environment variables are never echoed
// back in messages (they may hold passwords). `doc` must have passed
// check_shape (limits.h): bounded, keys are scalars.
YAML::Node validate(const Schema& schema, const YAML::Node& doc, std::vector<Problem>& problems,
                    const FromEnvironment& env = {});

// Scalar parsers shared with Section (accept the forms described in Type), so
// that what validation accepts reads back the same.
std::optional<int64_t> parse_int(std::string_view text);
std::optional<double> parse_float(std::string_view text);
std::optional<bool> parse_bool(std::string_view text);
std::optional<int64_t> parse_duration_ns(std::string_view text);
std::optional<uint64_t> parse_bytes(std::string_view text);

}  // namespace sluice::config
