#include "app/wiring/registry.h"

#include <algorithm>
#include <map>

#include "operators/classify.h"
#include "operators/counter.h"
#include "operators/generator.h"
#include "operators/identity.h"
#include "operators/infer.h"
#include "operators/kafka_services.h"
#include "operators/kafka_sink.h"
#include "operators/kafka_source.h"
#include "operators/micro_batch.h"
#include "operators/pipeline_sections.h"
#include "operators/recommend_score.h"
#include "operators/recommend_state.h"
#include "operators/tokenize.h"
#include "operators/window_aggregate.h"

namespace sluice::app {

using namespace operators;

namespace {

void declare_stage_common(config::Schema& s) {
  s.string("name", "Stage name: the `stage` label of its metrics and the name in logs").req();
  s.string("type", "Operator type (see `sluice validate --explain`)").req();
  s.integer("workers",
            "Parallel workers; records are sharded by input partition, keeping per-partition order")
      .def("1")
      .range(1, 256);
  s.integer("queue_capacity",
            "Capacity of each input queue of this stage (default: runtime.queue_capacity)")
      .range(2, 1 << 24);
}

}  // namespace

std::shared_ptr<const config::Schema> pipeline_schema(const OperatorRegistry& operators) {
  auto root = std::make_shared<config::Schema>("A sluice pipeline");
  root->string("name", "Pipeline name: the `pipeline` label of every metric").def("pipeline");
  root->string("description", "Free text").def("");

  declare_pipeline_sections(*root);  // runtime:, metrics:, model:

  for (const auto& sec : operators.sections()) {
    auto s = std::make_shared<config::Schema>(sec.description);
    sec.declare(*s);
    root->object(sec.name, s, sec.description);
  }

  auto stage_schemas =
      std::make_shared<std::map<std::string, std::shared_ptr<const config::Schema>, std::less<>>>();
  for (const auto& spec : operators.specs()) {
    auto s = std::make_shared<config::Schema>(spec.description);
    declare_stage_common(*s);
    if (spec.declare) spec.declare(*s);
    (*stage_schemas)[spec.type] = s;
  }
  std::string known;
  for (const auto& spec : operators.specs()) known += (known.empty() ? "" : ", ") + spec.type;
  root->object_list(
          "stages", "type",
          [stage_schemas, known](std::string_view type,
                                 std::string* list) -> std::shared_ptr<const config::Schema> {
            *list = known;
            auto it = stage_schemas->find(type);
            return it == stage_schemas->end() ? nullptr : it->second;
          },
          "The chain: a source first, then operators; the last one is a sink")
      .req();
  return root;
}

namespace {

std::vector<void (*)(OperatorRegistry&)>& extensions() {
  static std::vector<void (*)(OperatorRegistry&)> v;
  return v;
}

}  // namespace

void extend_builtin_registry(void (*add)(OperatorRegistry&)) { extensions().push_back(add); }

const OperatorRegistry& builtin_registry() {
  static const OperatorRegistry* r = [] {
    auto* reg = new OperatorRegistry();
    register_generator(*reg);
    register_identity(*reg);
    register_counter(*reg);
    register_window_aggregate(*reg);
    register_tokenize(*reg);
    register_kafka_section(*reg);
    register_kafka_source(*reg);
    register_kafka_sink(*reg);
    register_micro_batch(*reg);
    register_infer(*reg);
    register_classify(*reg);
    register_recommend_state(*reg);
    register_recommend_score(*reg);
    for (auto add : extensions()) add(*reg);
    return reg;
  }();
  return *r;
}

std::shared_ptr<const config::Schema> builtin_pipeline_schema() {
  static const std::shared_ptr<const config::Schema> schema = pipeline_schema(builtin_registry());
  return schema;
}

}  // namespace sluice::app
