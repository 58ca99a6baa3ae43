// Hand-written JSON output for the operators' hot paths (results,
// aggregates): no DOM, appended straight into the record's value.
#pragma once
#include <string>
#include <string_view>

namespace sluice::operators {

// Appends s as a JSON string literal (quotes and escapes included).
void append_json_string(std::string& out, std::string_view s);

}  // namespace sluice::operators
