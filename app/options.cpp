#include "app/options.h"

#include <charconv>
#include <cstring>

namespace sluice::app {

const char* const kSetHelp =
    "  --set KEY=VALUE   override one key of the pipeline file (repeatable); VALUE is YAML.\n"
    "                    KEY is a dotted path:  runtime.shutdown_timeout=10s\n"
    "                    list elements by index or stage name:\n"
    "                                           stages.1.workers=4, stages.tokenize.workers=4\n"
    "                    after a map of librdkafka properties (kafka.properties,\n"
    "                    kafka.consumer_properties, kafka.producer_properties) the rest of\n"
    "                    the path is one property name:\n"
    "                                           kafka.properties.security.protocol=SSL\n";

bool wants_help(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) return true;
  return false;
}

bool parse_pipeline_args(int argc, char** argv, PipelineArgs* out, std::string* error,
                         std::initializer_list<const char*> flags,
                         const std::function<void(const char*)>& on_flag) {
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (std::strcmp(a, "--set") == 0) {
      if (i + 1 >= argc) {
        *error = "--set needs key=value";
        return false;
      }
      out->overrides.emplace_back(argv[++i]);
      continue;
    }
    if (std::strncmp(a, "--set=", 6) == 0) {
      out->overrides.emplace_back(a + 6);
      continue;
    }
    bool known = false;
    for (const char* f : flags) {
      if (std::strcmp(a, f) == 0) {
        if (on_flag) on_flag(a);
        known = true;
      }
    }
    if (known) continue;
    if (a[0] == '-') {
      *error = std::string("unknown option ") + a;
      return false;
    }
    if (!out->path.empty()) {
      *error = "more than one pipeline file given";
      return false;
    }
    out->path = a;
  }
  bool explain_only = false;
  for (const char* f : flags) explain_only |= std::strcmp(f, "--explain") == 0;
  if (out->path.empty() && !explain_only) {
    *error = "no pipeline file given";
    return false;
  }
  return true;
}

bool parse_int(const char* s, int64_t* out) {
  const char* end = s + std::strlen(s);
  auto [p, ec] = std::from_chars(s, end, *out);
  return ec == std::errc() && p == end;
}

}  // namespace sluice::app
