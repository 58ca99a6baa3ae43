// Builds a runnable core::Pipeline from a validated pipeline file: one
// operator per stage, via the registry, with the wiring checks that the
// schema alone cannot make (a source first, kinds that fit, a sink last).
#pragma once
#include <memory>

#include "operators/operator_spec.h"
#include "src/config/load.h"
#include "src/core/pipeline.h"

namespace sluice::app {

struct BuiltPipeline {
  // Declaration order matters: services outlive the pipeline that uses them.
  std::unique_ptr<operators::Services> services;
  std::unique_ptr<core::Pipeline> pipeline;
  std::string name;
  std::chrono::nanoseconds shutdown_timeout{0};
};

// Throws config::ConfigError (the caller exits 2) for wiring problems and
// for anything an operator factory rejects as bad configuration
// (std::invalid_argument is turned into a ConfigError at the stage's path).
BuiltPipeline build_pipeline(const config::Loaded& loaded,
                             const operators::OperatorRegistry& registry,
                             metrics::Registry* metrics);

}  // namespace sluice::app
