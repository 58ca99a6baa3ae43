// The pipeline file's own top-level sections — runtime:, metrics:, model: —
// each key written once, bound to a struct whose initializers are the keys'
// defaults (config::Options). The wiring declares them in the pipeline
// schema (app/wiring/registry.cpp); the wiring, the app and the operators
// that need one (model_directory, kafka_source's shutdown bound) read them
// here from the validated document's root.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "src/config/schema.h"
#include "src/config/section.h"

namespace sluice::operators {

struct RuntimeSection {
  int64_t queue_capacity = 1024;  // default capacity of each stage input queue (items)
  std::chrono::nanoseconds shutdown_timeout = std::chrono::seconds(30);
  std::chrono::nanoseconds stall_timeout = std::chrono::minutes(10);  // 0: no liveness check
  std::string log_level = "info";
};

struct MetricsSection {
  bool enabled = true;
  std::string listen = "127.0.0.1:9464";  // host:port, checked by the app (parse_listen)
};

struct ModelSection {
  std::optional<std::string> path;  // the stages' model directory unless they name their own
};

// Adds `runtime:`, `metrics:` and `model:` to `root`, in that order.
void declare_pipeline_sections(config::Schema& root);

// The sections of a validated document's `root`.
RuntimeSection runtime_section(const config::Section& root);
MetricsSection metrics_section(const config::Section& root);
ModelSection model_section(const config::Section& root);

}  // namespace sluice::operators
