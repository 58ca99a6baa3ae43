// The CPU implementation of engine::Backend: an encoder forward over packed
// batches built from ops.h (fused AVX-512/AVX2 kernels) and linear.h (oneDNN
// GEMMs), run by one worker thread whose OpenMP team (options.threads wide)
// does the compute. submit() queues; the worker completes tickets in order.
#pragma once
#include <memory>

#include "src/engine/backend.h"
#include "src/engine/encoder_weights.h"
#include "src/engine/model_config.h"

namespace sluice::cpu {

// Packs the weights (copies them: `weights` may be freed afterwards) and
// starts the worker. Throws std::runtime_error if oneDNN cannot be set up.
std::unique_ptr<engine::Backend> make_cpu_backend(const engine::ModelConfig& config,
                                                  const engine::EncoderWeights& weights,
                                                  const engine::BackendOptions& options);

}  // namespace sluice::cpu
