#include "src/metrics/build_info.h"

#include <string>

namespace sluice::metrics {

void register_build_info(Registry& registry, std::string_view version,
                         std::string_view cuda_description, std::string_view git_sha) {
  Labels labels{{"version", std::string(version)}, {"cuda", std::string(cuda_description)}};
  if (!git_sha.empty()) labels.emplace_back("git_sha", std::string(git_sha));
  registry
      .gauge("sluice_build_info",
             "Build of the running sluice: version, git commit and CUDA support (value is 1).",
             labels)
      .set(1);
}

}  // namespace sluice::metrics
