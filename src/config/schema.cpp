#include "src/config/schema.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <ostream>
#include <set>
#include <sstream>

namespace sluice::config {

std::string_view type_name(Type t) {
  switch (t) {
    case Type::kString:
      return "string";
    case Type::kInt:
      return "integer";
    case Type::kFloat:
      return "number";
    case Type::kBool:
      return "boolean";
    case Type::kDuration:
      return "duration";
    case Type::kBytes:
      return "size";
    case Type::kEnum:
      return "choice";
    case Type::kStringList:
      return "list of strings";
    case Type::kStringMap:
      return "map of strings";
    case Type::kObject:
      return "mapping";
    case Type::kObjectList:
      return "list of mappings";
    case Type::kAny:
      return "any";
  }
  return "?";
}

Key& Schema::add(std::string name, Type type, std::string description) {
  for (auto& k : keys_) {
    if (k.name == name) throw std::logic_error("config key '" + name + "' declared twice");
  }
  Key k;
  k.name = std::move(name);
  k.type = type;
  k.description = std::move(description);
  keys_.push_back(std::move(k));
  return keys_.back();
}

Key& Schema::choice(std::string name, std::vector<std::string> choices, std::string description) {
  Key& k = add(std::move(name), Type::kEnum, std::move(description));
  k.choices = std::move(choices);
  return k;
}

Key& Schema::object(std::string name, std::shared_ptr<const Schema> schema,
                    std::string description) {
  Key& k = add(std::move(name), Type::kObject, std::move(description));
  k.object = std::move(schema);
  return k;
}

Key& Schema::object_list(std::string name, std::shared_ptr<const Schema> element,
                         std::string description) {
  Key& k = add(std::move(name), Type::kObjectList, std::move(description));
  k.object = std::move(element);
  return k;
}

Key& Schema::object_list(
    std::string name, std::string discriminator,
    std::function<std::shared_ptr<const Schema>(std::string_view, std::string*)> select,
    std::string description) {
  Key& k = add(std::move(name), Type::kObjectList, std::move(description));
  k.discriminator = std::move(discriminator);
  k.select = std::move(select);
  return k;
}

void Schema::include(const Schema& other) {
  for (const auto& k : other.keys_) {
    if (find(k.name)) throw std::logic_error("config key '" + k.name + "' declared twice");
    keys_.push_back(k);
  }
}

const Key* Schema::find(std::string_view name) const {
  for (const auto& k : keys_)
    if (k.name == name) return &k;
  return nullptr;
}

void Schema::describe(std::ostream& os, const std::string& prefix) const {
  for (const auto& k : keys_) {
    std::string path = prefix.empty() ? k.name : prefix + "." + k.name;
    os << "  " << path << " (" << type_name(k.type);
    if (k.type == Type::kEnum) {
      os << ": ";
      for (size_t i = 0; i < k.choices.size(); ++i) os << (i ? "|" : "") << k.choices[i];
    }
    os << (k.required ? ", required" : "");
    if (k.default_value)
      os << ", default " << (k.default_value->empty() ? "\"\"" : *k.default_value);
    os << ")\n      " << k.description << '\n';
    if (k.type == Type::kObject && k.object) k.object->describe(os, path);
    if (k.type == Type::kObjectList && k.object) k.object->describe(os, path + "[]");
  }
}

// ---- scalar parsing ----------------------------------------------------------

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Splits "12.5ms" into 12.5 and "ms".
bool split_number(std::string_view text, double* value, std::string* unit) {
  text = trim(text);
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  if (i == 0) return false;
  std::string num(text.substr(0, i));
  char* end = nullptr;
  *value = std::strtod(num.c_str(), &end);
  if (end != num.c_str() + num.size()) return false;
  *unit = std::string(trim(text.substr(i)));
  return true;
}

}  // namespace

std::optional<int64_t> parse_int(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  std::string s(text);
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno || end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_float(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  std::string s(text);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<bool> parse_bool(std::string_view text) {
  std::string s(trim(text));
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "true" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "no" || s == "off") return false;
  return std::nullopt;
}

std::optional<int64_t> parse_duration_ns(std::string_view text) {
  double v = 0;
  std::string unit;
  if (!split_number(text, &v, &unit)) return std::nullopt;
  double scale = 0;
  if (unit == "ns")
    scale = 1;
  else if (unit == "us" || unit == "µs")
    scale = 1e3;
  else if (unit == "ms")
    scale = 1e6;
  else if (unit == "s")
    scale = 1e9;
  else if (unit == "m" || unit == "min")
    scale = 60e9;
  else if (unit == "h")
    scale = 3600e9;
  else if (unit.empty() && v == 0)
    scale = 1;  // plain 0 needs no unit
  else
    return std::nullopt;
  if (!(v * scale < 0x1p63)) return std::nullopt;  // beyond int64 nanoseconds (292 years)
  return static_cast<int64_t>(std::llround(v * scale));
}

std::optional<uint64_t> parse_bytes(std::string_view text) {
  double v = 0;
  std::string unit;
  if (!split_number(text, &v, &unit)) return std::nullopt;
  double scale = 0;
  if (unit.empty() || unit == "B")
    scale = 1;
  else if (unit == "KiB")
    scale = 1024.0;
  else if (unit == "MiB")
    scale = 1024.0 * 1024;
  else if (unit == "GiB")
    scale = 1024.0 * 1024 * 1024;
  else if (unit == "KB" || unit == "kB")
    scale = 1e3;
  else if (unit == "MB")
    scale = 1e6;
  else if (unit == "GB")
    scale = 1e9;
  else
    return std::nullopt;
  if (!(v * scale < 0x1p63)) return std::nullopt;  // beyond what llround returns
  return static_cast<uint64_t>(std::llround(v * scale));
}

// ---- validation --------------------------------------------------------------

namespace {

struct Validator {
  std::vector<Problem>& problems;
  const FromEnvironment& env;

  bool secret(const std::string& path) const { return env.has(path); }
  std::string shown(const std::string& path, const YAML::Node& n) const {
    if (secret(path)) return "(value from the environment, not shown)";
    if (n.IsScalar()) return "'" + n.Scalar() + "'";
    if (n.IsSequence()) return "a list";
    if (n.IsMap()) return "a mapping";
    return "nothing";
  }
  std::set<std::string, std::less<>> reported;  // paths in `problems`

  // One problem per key: a value whose ${ENV} could not be substituted is not
  // also reported as having the wrong type.
  void problem(const std::string& path, std::string msg) {
    if (!reported.insert(path).second) return;
    problems.push_back({path, std::move(msg)});
  }

  void expected(const std::string& path, const std::string& what, const YAML::Node& n) {
    problem(path, "expected " + what + ", got " + shown(path, n));
  }

  void check_range(const Key& k, const std::string& path, double v, const YAML::Node& n) {
    if (k.min && v < *k.min) {
      std::ostringstream os;
      os << "must be at least " << *k.min << (k.type == Type::kDuration ? " s" : "") << ", got "
         << shown(path, n);
      problem(path, os.str());
    }
    if (k.max && v > *k.max) {
      std::ostringstream os;
      os << "must be at most " << *k.max << (k.type == Type::kDuration ? " s" : "") << ", got "
         << shown(path, n);
      problem(path, os.str());
    }
  }

  YAML::Node value(const Key& k, const std::string& path, const YAML::Node& n) {
    switch (k.type) {
      case Type::kString:
        if (!n.IsScalar()) expected(path, "a string", n);
        return n;
      case Type::kInt: {
        auto v = n.IsScalar() ? parse_int(n.Scalar()) : std::nullopt;
        if (!v) expected(path, "an integer", n);
        if (v) check_range(k, path, static_cast<double>(*v), n);
        return n;
      }
      case Type::kFloat: {
        auto v = n.IsScalar() ? parse_float(n.Scalar()) : std::nullopt;
        if (!v) expected(path, "a number", n);
        if (v) check_range(k, path, *v, n);
        return n;
      }
      case Type::kBool:
        if (!n.IsScalar() || !parse_bool(n.Scalar())) expected(path, "true or false", n);
        return n;
      case Type::kDuration: {
        auto v = n.IsScalar() ? parse_duration_ns(n.Scalar()) : std::nullopt;
        if (!v) expected(path, "a duration like 5ms or 2s (units ns, us, ms, s, m, h)", n);
        if (v) check_range(k, path, static_cast<double>(*v) * 1e-9, n);
        return n;
      }
      case Type::kBytes: {
        auto v = n.IsScalar() ? parse_bytes(n.Scalar()) : std::nullopt;
        if (!v) expected(path, "a size like 1048576, 64KiB or 16MB", n);
        if (v) check_range(k, path, static_cast<double>(*v), n);
        return n;
      }
      case Type::kEnum: {
        bool ok = n.IsScalar() &&
                  std::find(k.choices.begin(), k.choices.end(), n.Scalar()) != k.choices.end();
        if (!ok) {
          std::string list;
          for (size_t i = 0; i < k.choices.size(); ++i) list += (i ? ", " : "") + k.choices[i];
          expected(path, "one of " + list, n);
        }
        return n;
      }
      case Type::kStringList: {
        if (n.IsScalar()) {
          YAML::Node seq(YAML::NodeType::Sequence);
          seq.push_back(n.Scalar());
          return seq;
        }
        if (!n.IsSequence()) {
          expected(path, "a list of strings", n);
          return n;
        }
        for (size_t i = 0; i < n.size(); ++i)
          if (!n[i].IsScalar()) expected(path + "[" + std::to_string(i) + "]", "a string", n[i]);
        return n;
      }
      case Type::kStringMap: {
        if (n.IsNull()) return YAML::Node(YAML::NodeType::Map);
        if (!n.IsMap()) {
          expected(path, "a mapping of names to values", n);
          return n;
        }
        for (auto it = n.begin(); it != n.end(); ++it) {
          std::string sub = path + "." + it->first.Scalar();
          if (!it->second.IsScalar()) expected(sub, "a scalar value", it->second);
        }
        return n;
      }
      case Type::kObject:
        if (n.IsNull()) return object(*k.object, path, YAML::Node(YAML::NodeType::Map));
        if (!n.IsMap()) {
          expected(path, "a mapping", n);
          return n;
        }
        return object(*k.object, path, n);
      case Type::kObjectList: {
        if (!n.IsSequence()) {
          expected(path, "a list", n);
          return n;
        }
        YAML::Node out(YAML::NodeType::Sequence);
        for (size_t i = 0; i < n.size(); ++i) {
          std::string ep = path + "[" + std::to_string(i) + "]";
          const YAML::Node& e = n[i];
          if (!e.IsMap()) {
            expected(ep, "a mapping", e);
            continue;
          }
          std::shared_ptr<const Schema> schema = k.object;
          if (k.select) {
            YAML::Node d = e[k.discriminator];
            if (!d || !d.IsScalar()) {
              problem(ep + "." + k.discriminator, "missing required key");
              continue;
            }
            std::string known;
            schema = k.select(d.Scalar(), &known);
            if (!schema) {
              std::string dp = ep + "." + k.discriminator;
              problem(dp, "unknown " + k.discriminator + " " + shown(dp, d) +
                              (known.empty() ? "" : " (known: " + known + ")"));
              continue;
            }
          }
          out.push_back(object(*schema, ep, e));
        }
        return out;
      }
      case Type::kAny:
        return n;
    }
    return n;
  }

  YAML::Node object(const Schema& schema, const std::string& path, const YAML::Node& n) {
    YAML::Node out(YAML::NodeType::Map);
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string name = it->first.Scalar();
      std::string sub = path.empty() ? name : path + "." + name;
      const Key* k = schema.find(name);
      if (!k) {
        std::string hint;
        for (const auto& cand : schema.keys()) {
          // A near miss (same letters but one) is most likely a typo.
          if (cand.name.size() + 1 >= name.size() && name.size() + 1 >= cand.name.size()) {
            size_t common = 0;
            for (size_t i = 0; i < std::min(cand.name.size(), name.size()); ++i)
              common += cand.name[i] == name[i];
            if (common + 2 >= std::max(cand.name.size(), name.size()) && hint.empty())
              hint = cand.name;
          }
        }
        problem(sub,
                "unknown key" + (hint.empty() ? std::string() : " (did you mean '" + hint + "'?)"));
        continue;
      }
      out[name] = value(*k, sub, it->second);
    }
    for (const auto& k : schema.keys()) {
      if (n[k.name]) continue;
      std::string sub = path.empty() ? k.name : path + "." + k.name;
      if (k.required) {
        problem(sub, "missing required key (" + std::string(type_name(k.type)) + ": " +
                         k.description + ")");
      } else if (k.default_value) {
        // Defaults are YAML text ("5ms", "[]", "{}"); "" is the empty string.
        YAML::Node d =
            k.default_value->empty() ? YAML::Node(std::string()) : YAML::Load(*k.default_value);
        out[k.name] = value(k, sub, d);
      } else if (k.type == Type::kObject) {
        out[k.name] = object(*k.object, sub, YAML::Node(YAML::NodeType::Map));
      } else if (k.type == Type::kStringMap) {
        out[k.name] = YAML::Node(YAML::NodeType::Map);
      }
    }
    return out;
  }
};

}  // namespace

YAML::Node validate(const Schema& schema, const YAML::Node& doc, std::vector<Problem>& problems,
                    const FromEnvironment& env) {
  Validator v{problems, env, {}};
  for (const auto& p : problems) v.reported.insert(p.path);
  if (!doc || doc.IsNull()) return v.object(schema, "", YAML::Node(YAML::NodeType::Map));
  if (!doc.IsMap()) {
    problems.push_back({"(top level)", "expected a mapping of keys"});
    return doc;
  }
  return v.object(schema, "", doc);
}

}  // namespace sluice::config
