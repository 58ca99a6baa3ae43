#include "src/engine/backend_factory.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/linear.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/device_query.h"

namespace sluice::engine {
namespace {

// "cuda" → options.devices or {0}; "cuda:N" → {N}.
std::vector<int> cuda_devices(const std::string& d, const BackendOptions& options) {
  if (d == "cuda") return options.devices.empty() ? std::vector<int>{0} : options.devices;
  const std::string n = d.substr(5);
  if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos || n.size() > 4)
    throw std::invalid_argument("unknown device '" + d + "' (expected cpu, cuda, cuda:N or auto)");
  if (!options.devices.empty())
    throw std::invalid_argument("device '" + d +
                                "' names one GPU; give `devices` with device 'cuda' instead");
  return {std::stoi(n)};
}

}  // namespace

Precision effective_precision(Precision precision) {
  if (precision != Precision::kAuto) return precision;
  return cpu::int8_vnni() ? Precision::kInt8 : Precision::kF32;
}

std::vector<int> select_devices(const BackendOptions& options) {
  const std::string& d = options.device;
  if (d == "cpu") return {};
  if (d == "auto") {
    // CUDA when this build has it and a usable (sm_80+) device is present.
    const std::vector<int> usable = cuda::usable_devices(cuda::query_devices());
    if (usable.empty()) return {};
    return options.devices.empty() ? std::vector<int>{usable.front()} : options.devices;
  }
  if (d == "cuda" || d.rfind("cuda:", 0) == 0) {
    const std::vector<int> wanted = cuda_devices(d, options);
    // A device this build or machine cannot use is a configuration error
    // (exit 2, naming the device), not a start-up failure.
    const cuda::DeviceQuery q = cuda::query_devices();
    const std::vector<int> usable = cuda::usable_devices(q);
    for (int w : wanted) {
      if (std::find(usable.begin(), usable.end(), w) == usable.end())
        throw std::invalid_argument("device '" + d + "': cuda:" + std::to_string(w) +
                                    " is not a usable CUDA device here (" + cuda::describe(q) +
                                    "); use device cpu or auto");
    }
    return wanted;
  }
  throw std::invalid_argument("unknown device '" + d + "' (expected cpu, cuda, cuda:N or auto)");
}

std::unique_ptr<Backend> make_backend(const Model& model, const BackendOptions& options) {
  const std::vector<int> gpus = select_devices(options);
  if (gpus.empty()) return cpu::make_cpu_backend(model.config(), model.weights(), options);
  return cuda::make_cuda_backends(model.config(), model.weights(), options, gpus);
}

}  // namespace sluice::engine
