#include "src/config/limits.h"

#include <algorithm>
#include <utility>

namespace sluice::config {
namespace {

std::string kind_of(const YAML::Node& n) {
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
  return "nothing";
}

std::string line_of(const YAML::Mark& m) {
  return m.is_null() ? std::string() : std::to_string(m.line + 1);
}

class ShapeCheck {
 public:
  ShapeCheck(std::vector<Problem>& problems, bool with_lines, size_t budget)
      : problems_(problems), with_lines_(with_lines), budget_(budget) {}

  static bool is_container(const YAML::Node& n) { return n.IsMap() || n.IsSequence(); }
  // False once more than `budget` nodes were counted.
  bool count(size_t n = 1) { return (nodes_ += n) <= budget_; }

  // False once the budget is spent (the walk stops there). Only containers
  // are visited with a path: most nodes are scalars, and counting them must
  // stay cheap.
  bool visit(const YAML::Node& n, const std::string& path, int depth) {
    if (depth >= kMaxDepth) {
      problems_.push_back(
          {shown(path), "nested deeper than " + std::to_string(kMaxDepth) + " levels"});
      return true;
    }
    if (n.IsSequence()) {
      size_t i = 0;
      for (auto it = n.begin(); it != n.end(); ++it, ++i) {
        if (!count()) return false;
        if (is_container(*it) && !visit(*it, path + "[" + std::to_string(i) + "]", depth + 1))
          return false;
      }
      return true;
    }
    std::vector<std::pair<std::string, YAML::Mark>> keys;
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!count(2)) return false;  // the key and the value
      if (!it->first.IsScalar()) {
        std::string at = with_lines_ && !it->first.Mark().is_null()
                             ? " (line " + line_of(it->first.Mark()) + ")"
                             : "";
        problems_.push_back({shown(path), "a key must be a name, got " + kind_of(it->first) + at});
        continue;
      }
      const std::string& key = it->first.Scalar();
      keys.emplace_back(key, it->first.Mark());
      if (is_container(it->second) &&
          !visit(it->second, path.empty() ? key : path + "." + key, depth + 1))
        return false;
    }
    std::stable_sort(keys.begin(), keys.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 1; i < keys.size(); ++i) {
      if (keys[i].first != keys[i - 1].first) continue;
      std::string sub = path.empty() ? keys[i].first : path + "." + keys[i].first;
      std::string lines;
      if (with_lines_ && !keys[i - 1].second.is_null() && !keys[i].second.is_null())
        lines = " (lines " + line_of(keys[i - 1].second) + " and " + line_of(keys[i].second) + ")";
      problems_.push_back({sub, "key given twice" + lines});
    }
    return true;
  }

 private:
  static std::string shown(const std::string& path) { return path.empty() ? "(top level)" : path; }

  std::vector<Problem>& problems_;
  bool with_lines_;
  size_t budget_;
  size_t nodes_ = 0;
};

}  // namespace

bool check_shape(const YAML::Node& doc, const std::string& path, std::vector<Problem>& problems,
                 bool with_lines, size_t budget) {
  ShapeCheck check(problems, with_lines, budget);
  if (check.count() && (!ShapeCheck::is_container(doc) || check.visit(doc, path, 0))) return true;
  problems.push_back(
      {path.empty() ? "(top level)" : path,
       "more than " + std::to_string(budget) +
           " YAML nodes once aliases (*name) are expanded; a pipeline has a few hundred"});
  return false;
}

}  // namespace sluice::config
