// `sluice validate PIPELINE.yaml [--set k=v ...] [--explain]`: checks a
// pipeline file without running it. Exit 0 if valid, 2 with every problem
// (full key paths) otherwise. --explain prints every key the file may use.
#include <cstring>
#include <iostream>

#include "app/commands.h"
#include "app/options.h"
#include "app/serve_metrics.h"
#include "app/wiring/pipeline_factory.h"
#include "app/wiring/registry.h"
#include "operators/pipeline_sections.h"

namespace sluice::app {

namespace {

constexpr const char* kUsage =
    "usage: sluice validate PIPELINE.yaml [--set key=value ...] [--explain]\n";

}  // namespace

int cmd_validate(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::cout << kUsage
              << "Checks a pipeline file as `sluice run` would, without running it: exit 0 if\n"
                 "it is valid, 2 with every problem (full key paths).\n"
                 "  --explain         every key a pipeline file may use\n"
              << kSetHelp;
    return 0;
  }
  PipelineArgs args;
  bool explain = false;
  std::string error;
  if (!parse_pipeline_args(argc, argv, &args, &error, {"--explain"}, [&](const char* f) {
        if (std::strcmp(f, "--explain") == 0) explain = true;
      })) {
    std::cerr << "sluice validate: " << error << '\n' << kUsage;
    return 2;
  }
  if (args.path.empty() && !explain) {
    std::cerr << "sluice validate: no pipeline file given\n";
    return 2;
  }
  const auto& registry = app::builtin_registry();
  auto schema = app::builtin_pipeline_schema();
  if (explain) {
    std::cout << "Pipeline file keys:\n";
    schema->describe(std::cout);
    std::cout << "\nOperators (stages[].type):\n";
    for (const auto& t : registry.types()) {
      const auto* spec = registry.find(t);
      std::cout << "  " << t << (spec->is_source ? " (source)" : "") << ": " << spec->description
                << '\n';
      config::Schema s;
      if (spec->declare) spec->declare(s);
      s.describe(std::cout, "    stages[]");
    }
    if (args.path.empty()) return 0;
  }
  config::Loaded loaded;
  try {
    loaded = config::load_file(args.path, *schema, args.overrides);
    parse_listen(operators::metrics_section(loaded.root()).listen);
    // Build (without starting) to catch wiring problems: stage order, kinds,
    // operator options, and what librdkafka rejects (clients are configured,
    // not started: nothing connects).
    app::BuiltPipeline built = app::build_pipeline(loaded, registry, nullptr);
    std::cout << args.path << ": ok (pipeline '" << built.name << "', "
              << built.pipeline->stage_count() << " stages)\n";
    return 0;
  } catch (const config::ConfigError& e) {
    std::cerr << (e.source() == args.path ? "" : args.path + ": ") << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    // Whatever else an operator rejects while it is built (std::invalid_argument,
    // a model file it cannot read) is still a problem of this file.
    std::cerr << args.path << ": " << loaded.redact(e.what()) << '\n';
    return 2;
  }
}

}  // namespace sluice::app
