// Picks and builds the compute backend for a loaded model (options.device):
// "cpu", "cuda" / "cuda:N", or "auto" (CUDA when the build has it and a
// device is usable, else the CPU).
#pragma once
#include <memory>

#include "src/engine/backend.h"
#include "src/engine/model.h"

namespace sluice::engine {

// Throws std::invalid_argument for an unknown device string and
// std::runtime_error when the requested device cannot be used.
std::unique_ptr<Backend> make_backend(const Model& model, const BackendOptions& options);

}  // namespace sluice::engine
