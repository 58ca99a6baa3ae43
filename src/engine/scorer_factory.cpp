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

int select_scorer_device(const std::string& d) {
  if (d == "cpu") return -1;
  if (!is_scorer_device(d))
    throw std::invalid_argument("unknown device '" + d + "' (expected cpu, cuda, cuda:N or auto)");
  const std::vector<int> usable = cuda::usable_devices(cuda::query_devices());
  if (d == "auto") return usable.empty() ? -1 : usable.front();
  const int device = d == "cuda" ? 0 : std::stoi(d.substr(5));
  if (std::find(usable.begin(), usable.end(), device) == usable.end())
    throw std::invalid_argument("device '" + d + "': cuda:" + std::to_string(device) +
                                " is not a usable CUDA device here (" +
                                cuda::describe(cuda::query_devices()) +
                                "); use device cpu or auto");
  return device;
}

std::unique_ptr<Scorer> make_scorer(const float* items, int64_t num_items, int64_t dim,
                                    const ScorerOptions& options) {
  const int device = select_scorer_device(options.device);
  if (device < 0) return cpu::make_cpu_scorer(items, num_items, dim, options);
  return cuda::make_cuda_scorer(items, num_items, dim, options, device);
}

}  // namespace sluice::engine
