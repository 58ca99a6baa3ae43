// Pieces of the Prometheus text exposition format 0.0.4 (name syntax, escaping,
// number formatting), shared by the registry's renderer and its tests.
//
// Reference: https://prometheus.io/docs/instrumenting/exposition_formats/
// All functions are pure and thread-safe.
#pragma once
#include <string>
#include <string_view>

namespace sluice::metrics {

// Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*
bool is_valid_metric_name(std::string_view name);
// Label names: [a-zA-Z_][a-zA-Z0-9_]* and not starting with "__" (reserved for Prometheus).
bool is_valid_label_name(std::string_view name);
// Well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view s);

// Appends a sample value as Prometheus parses it: "+Inf", "-Inf", "NaN"; integral values
// below 1e15 as integers ("200000"); otherwise the shortest decimal form that reads back as
// the same double ("0.25", "1e-05", "1e+21").
void append_value(std::string& out, double v);
// Label value escaping: backslash → \\, double quote → \", newline → \n.
void append_escaped_label_value(std::string& out, std::string_view value);
// HELP text escaping: backslash → \\, newline → \n (quotes are not escaped in HELP).
void append_escaped_help(std::string& out, std::string_view help);

}  // namespace sluice::metrics
