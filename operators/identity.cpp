#include "operators/identity.h"

namespace sluice::operators {

void register_identity(OperatorRegistry& registry) {
  registry.add(OperatorSpec{
      .type = "identity",
      .description = "Passes records through unchanged",
      .is_source = false,
      .declare = nullptr,
      .make_source = nullptr,
      .make_operator = [](BuildContext&) -> std::unique_ptr<core::Operator> {
        return std::make_unique<Identity>();
      },
  });
}

}  // namespace sluice::operators
