// test_crash: a test-only operator that really kills the process on a record
// whose value contains a marker (std::abort, a segfault, or a stack overflow),
// and passes every other record through. For the crash-loop breaker's tests;
// linked only into tests/support's sluice_crashable, never into `sluice`.
#pragma once
#include <string>

#include "operators/operator_spec.h"

namespace sluice::testing {

enum class CrashHow { kAbort, kSegfault, kStackOverflow };

class CrashOperator final : public core::Operator {
 public:
  CrashOperator(std::string marker, CrashHow how) : marker_(std::move(marker)), how_(how) {}
  core::ItemKind input_kind() const override { return core::ItemKind::kRecord; }
  core::ItemKind output_kind() const override { return core::ItemKind::kRecord; }
  void process(core::OperatorState*, core::Item&& item, core::Emitter& out) const override;

 private:
  std::string marker_;
  CrashHow how_;
};

// Declares `type: test_crash` (options: marker, how).
void register_test_crash(operators::OperatorRegistry& registry);

}  // namespace sluice::testing
