#include "tests/support/crash_operator.h"

#include <cstdlib>

#include "app/wiring/registry.h"
#include "src/core/emitter.h"

namespace sluice::testing {
namespace {

// Recursion the optimiser cannot remove (each frame keeps a buffer alive),
// deeper than any stack.
[[gnu::noinline]] int overflow(int depth) {
  volatile char frame[4096];
  frame[static_cast<size_t>(depth) % sizeof frame] = static_cast<char>(depth);
  if (depth < 0) return 0;  // never: keeps the recursion from looking infinite
  return overflow(depth + 1) + frame[0];
}

// Registered before main(): sluice_crashable is `sluice` plus this operator.
[[maybe_unused]] const bool kRegistered =
    (app::extend_builtin_registry(&register_test_crash), true);

}  // namespace

void CrashOperator::process(core::OperatorState*, core::Item&& item, core::Emitter& out) const {
  const core::Record& r = std::get<core::Record>(item);
  if (r.value().find(marker_) != std::string_view::npos) {
    switch (how_) {
      case CrashHow::kAbort:
        std::abort();
      case CrashHow::kSegfault:
        *static_cast<volatile int*>(nullptr) = 1;
        break;
      case CrashHow::kStackOverflow:
        overflow(0);
        break;
    }
  }
  out.emit(std::move(item));
}

void register_test_crash(operators::OperatorRegistry& registry) {
  registry.add(operators::OperatorSpec{
      .type = "test_crash",
      .description = "TEST ONLY: kills the process on a record containing the marker",
      .is_source = false,
      .declare =
          [](config::Schema& s) {
            s.string("marker", "A record whose value contains this kills the process")
                .def("CRASH-ME");
            s.choice("how", {"abort", "segfault", "stack_overflow"}, "How it dies").def("abort");
          },
      .make_source = nullptr,
      .make_operator = [](operators::BuildContext& ctx) -> std::unique_ptr<core::Operator> {
        const std::string how = ctx.options.string("how");
        return std::make_unique<CrashOperator>(ctx.options.string("marker"),
                                               how == "segfault"         ? CrashHow::kSegfault
                                               : how == "stack_overflow" ? CrashHow::kStackOverflow
                                                                         : CrashHow::kAbort);
      },
  });
}

}  // namespace sluice::testing
