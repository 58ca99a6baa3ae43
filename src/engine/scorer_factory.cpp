#include "src/engine/scorer_factory.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_scorer.h"
#include "kernels/cuda/cuda_backend.h"  // usable_devices
#include "kernels/cuda/cuda_scorer.h"
#include "kernels/cuda/device_query.h"

namespace sluice::engine {

bool is_scorer_device(std::string_view d) {
  return d == "cpu" || d == "auto" || d == "cuda" ||
         (d.starts_with("cuda:") && d.size() > 5 && d.size() <= 9 &&
          d.find_first_not_of("0123456789", 5) == std::string_view::npos);
}

std::unique_ptr<Scorer> make_scorer(const float* items, int64_t num_items, int64_t dim,
                                    const ScorerOptions& options) {
  const std::string& d = options.device;
  if (d == "cpu") return cpu::make_cpu_scorer(items, num_items, dim, options);
  const std::vector<int> usable = cuda::usable_devices(cuda::query_devices());
  if (d == "auto") {
    if (usable.empty()) return cpu::make_cpu_scorer(items, num_items, dim, options);
    return cuda::make_cuda_scorer(items, num_items, dim, options, usable.front());
  }
  int device = -1;
  if (d == "cuda") {
    device = 0;
  } else if (is_scorer_device(d)) {
    device = std::stoi(d.substr(5));
  } else {
    throw std::invalid_argument("unknown device '" + d + "' (expected cpu, cuda, cuda:N or auto)");
  }
  if (std::find(usable.begin(), usable.end(), device) == usable.end())
    throw std::invalid_argument("device '" + d + "': cuda:" + std::to_string(device) +
                                " is not a usable CUDA device here (" +
                                cuda::describe(cuda::query_devices()) +
                                "); use device cpu or auto");
  return cuda::make_cuda_scorer(items, num_items, dim, options, device);
}

}  // namespace sluice::engine
