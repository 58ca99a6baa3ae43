#include "src/engine/backend_factory.h"

#include <stdexcept>

#include "kernels/cpu/cpu_backend.h"

namespace sluice::engine {

std::unique_ptr<Backend> make_backend(const Model& model, const BackendOptions& options) {
  const std::string& d = options.device;
  if (d == "cpu" || d == "auto") {
    // "auto" becomes CUDA here once kernels/cuda provides a backend.
    return cpu::make_cpu_backend(model.config(), model.weights(), options);
  }
  if (d == "cuda" || d.rfind("cuda:", 0) == 0)
    throw std::runtime_error("device '" + d + "': this build has no CUDA backend");
  throw std::invalid_argument("unknown device '" + d + "' (expected cpu, cuda, cuda:N or auto)");
}

}  // namespace sluice::engine
