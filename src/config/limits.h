// Bounds on what loading a pipeline file may cost, and the structural checks
// that must pass before anything else walks a parsed YAML document.
//
// yaml-cpp parses an alias (*a) as a second reference to the anchored node,
// so a "billion laughs" file of a few hundred bytes is a graph whose tree,
// which every later walk (substitution, validation, copying) expands, has
// billions of nodes. Counting nodes as a tree walk sees them, with a budget,
// stops that before it costs anything. yaml-cpp's parser guards its own
// recursion (DeepRecursion, at about 2000 levels), so no pre-scan of the text
// is needed; the lower depth bound here keeps our own recursive walks shallow
// and gives a clear message.
#pragma once
#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <string>
#include <vector>

#include "src/config/schema.h"

namespace sluice::config {

// The shipped pipelines are 3 KiB, ~100 nodes, 4 levels deep.
inline constexpr size_t kMaxFileBytes = 256 * 1024;  // also yaml-cpp's memory: ~250 bytes per byte
inline constexpr size_t kMaxNodes = 100'000;         // counted with aliases expanded
inline constexpr int kMaxDepth = 100;                // nested lists/mappings

// Walks `doc`, found at key path `path` ("" for a whole file), as a tree
// (aliases expanded), appending to `problems`:
//  - a key that is not a scalar (a list or mapping as a key, or no key),
//  - a key given twice in one mapping (`with_lines`: both line numbers, for
//    nodes parsed from a file),
//  - nesting deeper than kMaxDepth.
// Returns false, after a problem at `path`, if the walk would visit more than
// `budget` nodes: the document must then not be walked again.
bool check_shape(const YAML::Node& doc, const std::string& path, std::vector<Problem>& problems,
                 bool with_lines, size_t budget = kMaxNodes);

}  // namespace sluice::config
