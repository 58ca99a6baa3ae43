// test_label: a test-only stand-in for classify — labels every record
// "positive" (score 1), optionally spending a fixed time per record so that
// a kill -9 lands in the middle of a run. Lets the state tests run windows
// on real sluice processes without a model. Linked only into sluice_crashable.
#include <chrono>
#include <thread>

#include "app/wiring/registry.h"
#include "operators/operator_spec.h"
#include "src/core/emitter.h"

namespace sluice::testing {
namespace {

class LabelOperator final : public core::Operator {
 public:
  explicit LabelOperator(std::chrono::microseconds delay) : delay_(delay) {}
  core::ItemKind input_kind() const override { return core::ItemKind::kRecord; }
  core::ItemKind output_kind() const override { return core::ItemKind::kRecord; }
  void process(core::OperatorState*, core::Item&& item, core::Emitter& out) const override {
    core::Record& r = std::get<core::Record>(item);
    r.label = "positive";
    r.score = 1.0f;
    if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
    out.emit(std::move(item));
  }

 private:
  std::chrono::microseconds delay_;
};

void register_test_label(operators::OperatorRegistry& registry) {
  registry.add(operators::OperatorSpec{
      .type = "test_label",
      .description = "TEST ONLY: labels every record positive (a classify stand-in)",
      .is_source = false,
      .declare =
          [](config::Schema& s) {
            s.duration("delay", "Time spent per record").def("0s").range(0, {});
          },
      .make_source = nullptr,
      .make_operator = [](operators::BuildContext& ctx) -> std::unique_ptr<core::Operator> {
        return std::make_unique<LabelOperator>(
            std::chrono::duration_cast<std::chrono::microseconds>(ctx.options.duration("delay")));
      },
  });
}

// Registered before main(), as test_crash is.
[[maybe_unused]] const bool kRegistered =
    (app::extend_builtin_registry(&register_test_label), true);

}  // namespace
}  // namespace sluice::testing
