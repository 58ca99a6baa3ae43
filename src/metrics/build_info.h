// sluice_build_info: the one-sample gauge (value 1) whose labels say which build
// is running, so dashboards can join it onto other series and spot mixed versions.
#pragma once
#include <string_view>

#include "src/metrics/registry.h"

namespace sluice::metrics {

// Registers sluice_build_info{version, cuda[, git_sha]} = 1. `cuda_description` is
// e.g. sluice::cuda::describe(...) ("cuda: runtime 13.0, 1 device(s): ..." or
// "cuda: not built ..."); git_sha is omitted when empty. Throws std::invalid_argument
// for an empty version or cuda description (empty label values are not allowed).
void register_build_info(Registry& registry, std::string_view version,
                         std::string_view cuda_description, std::string_view git_sha = {});

}  // namespace sluice::metrics
