#include "src/config/load.h"

#include <yaml-cpp/depthguard.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "src/config/limits.h"

namespace sluice::config {
namespace {

std::string join_problems(const std::string& source, const std::vector<Problem>& problems) {
  std::ostringstream os;
  os << source << ": " << problems.size() << " problem" << (problems.size() == 1 ? "" : "s");
  for (const auto& p : problems) os << "\n  " << p.path << ": " << p.message;
  return os.str();
}

bool valid_env_name(std::string_view n) {
  if (n.empty() || std::isdigit(static_cast<unsigned char>(n[0]))) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

// Returns false (and records a problem) if a variable is missing or malformed.
// Appends every variable substituted (name and value) to `used`.
bool substitute(const std::string& in, std::string* out, std::vector<FromEnvironment::Value>* used,
                const std::string& path, std::vector<Problem>& problems) {
  out->clear();
  size_t i = 0;
  bool ok = true;
  while (i < in.size()) {
    if (in.compare(i, 3, "$${") == 0) {
      out->append("${");
      i += 3;
      continue;
    }
    if (in.compare(i, 2, "${") != 0) {
      out->push_back(in[i++]);
      continue;
    }
    size_t close = in.find('}', i + 2);
    if (close == std::string::npos) {
      problems.push_back({path, "unterminated ${ in value"});
      return false;
    }
    std::string expr = in.substr(i + 2, close - i - 2);
    std::string name = expr, fallback;
    bool has_default = false;
    if (auto d = expr.find(":-"); d != std::string::npos) {
      name = expr.substr(0, d);
      fallback = expr.substr(d + 2);
      has_default = true;
    }
    if (!valid_env_name(name)) {
      problems.push_back({path, "invalid environment variable name '" + name + "' in ${...}"});
      ok = false;
    } else if (const char* v = std::getenv(name.c_str()); v && *v) {
      out->append(v);
      used->push_back({name, v});
    } else if (has_default) {
      out->append(fallback);
    } else {
      problems.push_back({path, "environment variable " + name + " is not set (write ${" + name +
                                    ":-default} to give a default)"});
      ok = false;
    }
    i = close + 1;
  }
  return ok;
}

struct EnvWalk {
  std::vector<Problem>& problems;
  FromEnvironment& env;
  // Scalars that substitution produced from the environment. yaml-cpp shares
  // an aliased node, so an alias (*a) of a substituted value is visited after
  // it was replaced; recognising the result marks the alias's path too.
  std::set<std::string, std::less<>> produced;

  void walk(YAML::Node node, const std::string& path) {
    if (node.IsScalar()) {
      const std::string& s = node.Scalar();
      if (s.find("${") == std::string::npos) {
        if (produced.count(s)) env.paths.insert(path);
        return;
      }
      std::string out;
      std::vector<FromEnvironment::Value> used;
      bool ok = substitute(s, &out, &used, path, problems);
      if (!used.empty()) {
        env.paths.insert(path);
        for (auto& v : used) env.values.push_back(std::move(v));
        if (ok) produced.insert(out);
      }
      if (ok) node = out;
    } else if (node.IsSequence()) {
      for (size_t i = 0; i < node.size(); ++i) walk(node[i], path + "[" + std::to_string(i) + "]");
    } else if (node.IsMap()) {
      for (auto it = node.begin(); it != node.end(); ++it) {
        const std::string& key = it->first.Scalar();
        walk(it->second, path.empty() ? key : path + "." + key);
      }
    }
  }
};

// "a.b.c" → {"a", "b", "c"}; false if a part is empty.
bool split_path(const std::string& path, std::vector<std::string>* parts) {
  size_t begin = 0;
  while (true) {
    size_t dot = path.find('.', begin);
    std::string part =
        path.substr(begin, dot == std::string::npos ? std::string::npos : dot - begin);
    if (part.empty()) return false;
    parts->push_back(std::move(part));
    if (dot == std::string::npos) return true;
    begin = dot + 1;
  }
}

// The schema of a list element: fixed, or chosen by its discriminator.
std::shared_ptr<const Schema> element_schema(const Key* list, const YAML::Node& element) {
  if (!list || list->type != Type::kObjectList) return nullptr;
  if (list->object) return list->object;
  if (!list->select || !element.IsMap()) return nullptr;
  YAML::Node d = element[list->discriminator];
  if (!d || !d.IsScalar()) return nullptr;
  std::string known;
  return list->select(d.Scalar(), &known);
}

}  // namespace

ConfigError::ConfigError(std::string source, std::vector<Problem> problems)
    : std::runtime_error(join_problems(source, problems)),
      problems_(std::move(problems)),
      source_(std::move(source)) {}

void substitute_env(YAML::Node doc, std::vector<Problem>& problems, FromEnvironment& env) {
  EnvWalk{problems, env, {}}.walk(doc, "");
}

void apply_override(YAML::Node doc, const std::string& assignment, std::vector<Problem>& problems,
                    const Schema* schema) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    problems.push_back({"--set " + assignment, "expected key.path=value"});
    return;
  }
  std::string path = assignment.substr(0, eq);
  std::string text = assignment.substr(eq + 1);
  std::vector<std::string> parts;
  if (!split_path(path, &parts)) {
    problems.push_back({"--set " + path, "empty key in the path (a.b.c)"});
    return;
  }
  if (parts.size() > static_cast<size_t>(kMaxDepth)) {
    problems.push_back(
        {"--set " + parts[0] + "...", "path deeper than " + std::to_string(kMaxDepth) + " levels"});
    return;
  }

  YAML::Node value;
  try {
    value = text.empty() ? YAML::Node(std::string()) : YAML::Load(text);
  } catch (const YAML::Exception& e) {
    problems.push_back({path, "--set value is not valid YAML: " + e.msg});
    return;
  }
  // Bounded like a file, before it joins the document.
  std::vector<Problem> shape;
  check_shape(value, path, shape, /*with_lines=*/false);
  if (!shape.empty()) {
    for (auto& p : shape) problems.push_back({p.path, "--set: " + p.message});
    return;
  }

  YAML::Node cur = doc;
  // The schema of `cur` (when it is a mapping) and the key that holds `cur`.
  std::shared_ptr<const Schema> owned;
  const Schema* cur_schema = schema;
  const Key* cur_key = nullptr;
  std::string walked;
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string part = parts[i];
    walked += (walked.empty() ? "" : ".") + part;
    bool last = i + 1 == parts.size();
    // yaml-cpp: Node::operator= writes through to the referenced node, so
    // moving a cursor must use reset(); `found` says whether it was set.
    if (cur.IsSequence()) {
      YAML::Node next;
      bool found = false;
      bool numeric =
          std::all_of(part.begin(), part.end(), [](unsigned char c) { return std::isdigit(c); });
      if (numeric) {
        size_t idx = 0;
        auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), idx);
        if (ec != std::errc() || idx >= cur.size()) {
          problems.push_back(
              {walked, "--set: index out of range (list has " + std::to_string(cur.size()) + ")"});
          return;
        }
        next.reset(cur[idx]);
        found = true;
      } else {
        for (size_t j = 0; j < cur.size() && !found; ++j) {
          if (cur[j].IsMap() && cur[j]["name"] && cur[j]["name"].Scalar() == part) {
            next.reset(cur[j]);
            found = true;
          }
        }
        if (!found) {
          problems.push_back({walked, "--set: no list element named '" + part + "'"});
          return;
        }
      }
      if (last) {
        problems.push_back({walked, "--set: cannot replace a whole list element"});
        return;
      }
      owned = element_schema(cur_key, next);
      cur_schema = owned.get();
      cur_key = nullptr;
      cur.reset(next);
      continue;
    }
    if (!cur.IsMap() && !cur.IsNull()) {
      problems.push_back({walked, "--set: cannot descend into a scalar"});
      return;
    }
    const Key* key = cur_schema ? cur_schema->find(part) : nullptr;
    if (key && key->type == Type::kStringMap && !last) {
      // The rest of the path names one entry: "security.protocol".
      if (!cur[part] || cur[part].IsNull()) cur[part] = YAML::Node(YAML::NodeType::Map);
      YAML::Node map = cur[part];
      if (!map.IsMap()) {
        problems.push_back({walked, "--set: not a mapping"});
        return;
      }
      std::string name = path.substr(walked.size() + 1);
      map[name] = value;
      return;
    }
    if (last) {
      cur[part] = value;
      return;
    }
    if (!cur[part] || cur[part].IsNull()) cur[part] = YAML::Node(YAML::NodeType::Map);
    YAML::Node next = cur[part];
    cur.reset(next);
    cur_key = key;
    cur_schema = key && key->type == Type::kObject ? key->object.get() : nullptr;
  }
}

Loaded load_string(const std::string& text, const Schema& schema,
                   const std::vector<std::string>& overrides, const std::string& source) {
  if (text.size() > kMaxFileBytes) {
    throw ConfigError(source, {{"(file)", "larger than " + std::to_string(kMaxFileBytes / 1024) +
                                              " KiB; a pipeline file is a few KiB"}});
  }
  auto at = [](const YAML::Mark& m) {
    return "line " + std::to_string(m.line + 1) + ", column " + std::to_string(m.column + 1);
  };
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {
    throw ConfigError(source,
                      {{at(e.mark), "invalid YAML: nested too deeply (a pipeline file may nest " +
                                        std::to_string(kMaxDepth) + " levels)"}});
  } catch (const YAML::Exception& e) {
    throw ConfigError(source, {{at(e.mark), "invalid YAML: " + e.msg}});
  }
  if (!doc || doc.IsNull()) doc = YAML::Node(YAML::NodeType::Map);
  std::vector<Problem> problems;
  // Nothing walks the document before it is known to be bounded and to have
  // plain, unique keys; after --set, once more, as values joined it.
  check_shape(doc, "", problems, /*with_lines=*/true);
  if (!problems.empty()) throw ConfigError(source, std::move(problems));
  for (const auto& o : overrides) apply_override(doc, o, problems, &schema);
  size_t before = problems.size();
  if (!check_shape(doc, "", problems, /*with_lines=*/false) || problems.size() > before)
    throw ConfigError(source, std::move(problems));
  auto env = std::make_shared<FromEnvironment>();
  substitute_env(doc, problems, *env);
  YAML::Node validated = validate(schema, doc, problems, *env);
  if (!problems.empty()) {
    // Validation never quotes a value from the environment; this is the
    // backstop for a message that would.
    for (auto& p : problems) p.message = env->redact(std::move(p.message));
    throw ConfigError(source, std::move(problems));
  }
  return Loaded{validated, std::move(env)};
}

Loaded load_file(const std::filesystem::path& path, const Schema& schema,
                 const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw ConfigError(path.string(), {{"(file)", "is a directory"}});
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw ConfigError(path.string(),
                      {{"(file)", "cannot open: " + std::string(std::strerror(errno))}});
  // One byte more than allowed tells a file at the limit from a larger one
  // (without trusting a size that /dev/zero or a pipe does not have).
  std::string text(kMaxFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return load_string(text, schema, overrides, path.string());
}

}  // namespace sluice::config
