// Command-line parsing shared by the commands: `sluice run` and `sluice
// validate` (PIPELINE.yaml, repeated --set key=value, and command-specific
// flags), and a flag's integer value.
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

namespace sluice::app {

struct PipelineArgs {
  std::string path;
  std::vector<std::string> overrides;  // "a.b=c"
};

// True if argv asks for help (--help or -h anywhere).
bool wants_help(int argc, char** argv);

// The --set paragraph of `sluice run --help` and `sluice validate --help`.
extern const char* const kSetHelp;

// flags: extra boolean flags the command accepts; on_flag is called for each seen.
bool parse_pipeline_args(int argc, char** argv, PipelineArgs* out, std::string* error,
                         std::initializer_list<const char*> flags = {},
                         const std::function<void(const char*)>& on_flag = nullptr);

// A whole decimal integer (no sign other than '-', nothing after it).
bool parse_int(const char* s, int64_t* out);

}  // namespace sluice::app
