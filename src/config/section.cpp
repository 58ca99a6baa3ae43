#include "src/config/section.h"

#include <algorithm>
#include <stdexcept>

#include "src/config/schema.h"

namespace sluice::config {

std::string FromEnvironment::redact(std::string text) const {
  // Longest first, so that a value containing another is replaced whole.
  std::vector<const Value*> by_length;
  for (const auto& v : values) by_length.push_back(&v);
  std::sort(by_length.begin(), by_length.end(),
            [](auto* a, auto* b) { return a->value.size() > b->value.size(); });
  for (const Value* v : by_length) {
    // A value of one to three characters is no secret, and replacing it would
    // garble every number and short word of the message ("stages[4]").
    if (v->value.size() < 4) continue;
    const std::string shown = "${" + v->variable + "}";
    for (size_t at = text.find(v->value); at != std::string::npos;
         at = text.find(v->value, at + shown.size()))
      text.replace(at, v->value.size(), shown);
  }
  return text;
}

YAML::Node Section::get(const std::string& key) const {
  YAML::Node n = node_[key];
  if (!n || n.IsNull()) throw std::logic_error("config key '" + path_of(key) + "' is not set");
  return n;
}

bool Section::has(const std::string& key) const {
  if (!node_.IsMap()) return false;
  YAML::Node n = node_[key];
  return n && !n.IsNull();
}

std::string Section::string(const std::string& key) const { return get(key).Scalar(); }

int64_t Section::integer(const std::string& key) const {
  auto v = parse_int(get(key).Scalar());
  if (!v) throw std::logic_error("config key '" + path_of(key) + "' is not an integer");
  return *v;
}

double Section::real(const std::string& key) const {
  auto v = parse_float(get(key).Scalar());
  if (!v) throw std::logic_error("config key '" + path_of(key) + "' is not a number");
  return *v;
}

bool Section::boolean(const std::string& key) const {
  auto v = parse_bool(get(key).Scalar());
  if (!v) throw std::logic_error("config key '" + path_of(key) + "' is not a boolean");
  return *v;
}

std::chrono::nanoseconds Section::duration(const std::string& key) const {
  auto v = parse_duration_ns(get(key).Scalar());
  if (!v) throw std::logic_error("config key '" + path_of(key) + "' is not a duration");
  return std::chrono::nanoseconds(*v);
}

uint64_t Section::bytes(const std::string& key) const {
  auto v = parse_bytes(get(key).Scalar());
  if (!v) throw std::logic_error("config key '" + path_of(key) + "' is not a size");
  return *v;
}

std::vector<std::string> Section::strings(const std::string& key) const {
  std::vector<std::string> out;
  if (!has(key)) return out;
  YAML::Node n = get(key);
  if (n.IsScalar()) return {n.Scalar()};
  for (const auto& e : n) out.push_back(e.Scalar());
  return out;
}

std::map<std::string, std::string> Section::string_map(const std::string& key) const {
  std::map<std::string, std::string> out;
  if (!has(key)) return out;
  for (auto it = node_[key].begin(); it != node_[key].end(); ++it)
    out[it->first.Scalar()] = it->second.Scalar();
  return out;
}

Section Section::section(const std::string& key) const {
  YAML::Node n = node_[key];
  return Section(n ? n : YAML::Node(YAML::NodeType::Map), path_of(key), env_);
}

std::vector<Section> Section::list(const std::string& key) const {
  std::vector<Section> out;
  if (!has(key)) return out;
  YAML::Node n = get(key);
  for (size_t i = 0; i < n.size(); ++i)
    out.emplace_back(n[i], path_of(key) + "[" + std::to_string(i) + "]", env_);
  return out;
}

}  // namespace sluice::config
