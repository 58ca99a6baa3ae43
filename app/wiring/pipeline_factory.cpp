#include "app/wiring/pipeline_factory.h"

#include "operators/pipeline_sections.h"
#include "src/core/log.h"

namespace sluice::app {

BuiltPipeline build_pipeline(const config::Loaded& loaded,
                             const operators::OperatorRegistry& registry,
                             metrics::Registry* metrics) {
  config::Section root = loaded.root();
  BuiltPipeline out;
  out.name = root.string("name");
  const operators::RuntimeSection runtime = operators::runtime_section(root);
  out.shutdown_timeout = runtime.shutdown_timeout;
  core::LogLevel level;
  if (core::parse_log_level(runtime.log_level, &level)) core::set_log_level(level);

  out.services = std::make_unique<operators::Services>(root, out.name, metrics);
  core::PipelineOptions po;
  po.name = out.name;
  po.default_queue_capacity = static_cast<size_t>(runtime.queue_capacity);
  po.stall_timeout = runtime.stall_timeout;
  out.pipeline = std::make_unique<core::Pipeline>(po);

  std::vector<config::Problem> problems;
  std::vector<config::Section> stages = root.list("stages");
  if (stages.size() < 2)
    problems.push_back({"stages", "a pipeline needs a source and at least one more stage"});

  core::ItemKind upstream_out = core::ItemKind::kNone;
  std::string upstream_name;
  std::vector<std::string> seen_names;
  for (size_t i = 0; i < stages.size() && problems.empty(); ++i) {
    const config::Section& st = stages[i];
    std::string name = st.string("name");
    std::string type = st.string("type");
    if (std::find(seen_names.begin(), seen_names.end(), name) != seen_names.end()) {
      problems.push_back({st.path_of("name"), "duplicate stage name '" + name + "'"});
      break;
    }
    seen_names.push_back(name);
    const operators::OperatorSpec* spec = registry.find(type);  // validated: exists
    int workers = static_cast<int>(st.integer("workers"));
    operators::BuildContext ctx{st, name, workers, *out.services};
    try {
      if (i == 0) {
        if (!spec->is_source) {
          problems.push_back(
              {st.path_of("type"), "the first stage must be a source, and '" + type + "' is not"});
          break;
        }
        if (workers != 1) {
          problems.push_back(
              {st.path_of("workers"), "a source runs on one thread; workers must be 1"});
          break;
        }
        auto src = spec->make_source(ctx);
        upstream_out = src->output_kind();
        out.pipeline->set_source(name, std::move(src));
      } else {
        if (spec->is_source) {
          problems.push_back(
              {st.path_of("type"), "'" + type + "' is a source and can only be the first stage"});
          break;
        }
        auto op = spec->make_operator(ctx);
        if (upstream_out == core::ItemKind::kNone) {
          problems.push_back({st.path_of("type"),
                              "stage '" + upstream_name + "' is a sink: nothing can follow it"});
          break;
        }
        if (op->input_kind() != upstream_out) {
          problems.push_back(
              {st.path_of("type"), "'" + type + "' takes " +
                                       std::string(core::item_kind_name(op->input_kind())) +
                                       " but stage '" + upstream_name + "' emits " +
                                       std::string(core::item_kind_name(upstream_out))});
          break;
        }
        upstream_out = op->output_kind();
        size_t cap =
            st.has("queue_capacity") ? static_cast<size_t>(st.integer("queue_capacity")) : 0;
        out.pipeline->add_stage(name, std::move(op), workers, cap);
      }
    } catch (const config::ConfigError& e) {
      for (const auto& p : e.problems()) problems.push_back(p);
      break;
    } catch (const std::invalid_argument& e) {
      problems.push_back({st.path(), e.what()});
      break;
    }
    upstream_name = name;
  }
  if (problems.empty() && upstream_out != core::ItemKind::kNone) {
    problems.push_back({"stages[" + std::to_string(stages.size() - 1) + "]",
                        "the last stage must be a sink, and '" + upstream_name + "' emits " +
                            std::string(core::item_kind_name(upstream_out))});
  }
  if (!problems.empty()) {
    // Operators quote values in their messages; none from the environment is shown.
    for (auto& p : problems) p.message = loaded.redact(std::move(p.message));
    throw config::ConfigError(loaded.redact("pipeline '" + out.name + "'"), std::move(problems));
  }
  out.pipeline->set_dead_letter_sink(out.services->dead_letters());
  return out;
}

}  // namespace sluice::app
