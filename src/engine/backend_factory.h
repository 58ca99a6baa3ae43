// Picks and builds the compute backend for a loaded model (options.device):
// "cpu", "cuda" / "cuda:N", or "auto" (CUDA when the build has it and a
// device is usable, else the CPU).
#pragma once
#include <memory>
#include <vector>

#include "src/engine/backend.h"
#include "src/engine/model.h"

namespace sluice::engine {

// Throws std::invalid_argument (a configuration error: exit 2) for an unknown
// device string or a device this build or machine cannot use, and
// std::runtime_error when a usable device fails to initialise.
std::unique_ptr<Backend> make_backend(const Model& model, const BackendOptions& options);

// The CUDA devices make_backend would build on for `options` (device,
// devices) on this machine, or none for the CPU; throws as make_backend does
// for an unknown or unusable device. Cheap: no model, nothing allocated on a
// device, so a command can check its options before it starts a pipeline.
std::vector<int> select_devices(const BackendOptions& options);

// The GEMM precision a CPU backend made with `precision` computes in:
// Precision::kAuto resolved for this CPU (int8 with VNNI or AMX, else fp32),
// anything else as given.
Precision effective_precision(Precision precision);

}  // namespace sluice::engine
