// The wiring's view of operators: which ones a pipeline file may name (the
// built-in list, explicit in registry.cpp) and the whole pipeline-file
// schema — top-level keys, the pipeline's own sections (runtime:, metrics:,
// model:, bound in operators/pipeline_sections.h), the sections operators
// registered (kafka:, ...) and `stages`, each element
// validated against its operator's keys (operators/operator_spec.h).
#pragma once
#include <memory>

#include "operators/operator_spec.h"
#include "src/config/schema.h"

namespace sluice::app {

// The schema of a pipeline file using `operators`. Built anew on each call
// (the built-in one is cached by builtin_pipeline_schema).
std::shared_ptr<const config::Schema> pipeline_schema(const operators::OperatorRegistry& operators);

// Every built-in operator.
const operators::OperatorRegistry& builtin_registry();
// pipeline_schema(builtin_registry()), built once.
std::shared_ptr<const config::Schema> builtin_pipeline_schema();

// Adds `add`'s operators to builtin_registry() when it is first built. Only
// test executables call it (tests/support/sluice_crashable: operators that
// kill the process on purpose), so the production binary never has them.
// Call before the first builtin_registry() (a static initialiser will do).
void extend_builtin_registry(void (*add)(operators::OperatorRegistry&));

}  // namespace sluice::app
