// identity: passes every item through unchanged. The middle of the
// passthrough pipeline, and a way to add a parallel hop for testing.
#pragma once
#include "operators/operator_spec.h"
#include "src/core/emitter.h"

namespace sluice::operators {

class Identity final : public core::Operator {
 public:
  core::ItemKind input_kind() const override { return core::ItemKind::kRecord; }
  core::ItemKind output_kind() const override { return core::ItemKind::kRecord; }
  void process(core::OperatorState*, core::Item&& item, core::Emitter& out) const override {
    out.emit(std::move(item));
  }
};

void register_identity(OperatorRegistry& registry);

}  // namespace sluice::operators
