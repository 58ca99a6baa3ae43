// The CUDA implementation of engine::Backend, seen from plain C++ (no CUDA
// type here: DESIGN.md, CUDA never leaks upward).
//
// One backend drives one device: weights uploaded once as fp16/bf16
// (options.dtype), workspaces for options.max_batch_tokens /
// max_batch_records pre-allocated per in-flight slot (options.max_in_flight,
// at least 2), each slot with its own stream, so the upload of batch N+1
// overlaps the compute of batch N. A completion thread retires tickets in
// submit order (event waits, no thread per batch). Several devices: one
// backend each, batches dealt round-robin (round_robin_backend.h).
//
// In builds without CUDA (cuda_absent.cpp) the factories throw
// std::runtime_error("... this build has no CUDA backend").
#pragma once
#include <memory>
#include <vector>

#include "kernels/cuda/device_query.h"
#include "src/engine/backend.h"
#include "src/engine/encoder_weights.h"
#include "src/engine/model_config.h"

namespace sluice::cuda {

// The oldest compute capability the kernels are built for (sm_80: bf16 and
// tensor-core fragments for it). Older devices are not "usable".
inline constexpr int kMinComputeMajor = 8;

// Indices of the devices in `q` the backend can run on (in query order).
inline std::vector<int> usable_devices(const DeviceQuery& q) {
  std::vector<int> out;
  for (const auto& d : q.devices)
    if (d.compute_major >= kMinComputeMajor) out.push_back(d.index);
  return out;
}

// A backend on `device`. Copies what it needs from `weights` (which may be
// freed afterwards). Throws std::invalid_argument for bad options (dtype,
// max_in_flight) and std::runtime_error when the device cannot be used or its
// free memory cannot hold the weights and workspaces: the message names the
// device, the bytes needed and the options that size them.
std::unique_ptr<engine::Backend> make_cuda_backend(const engine::ModelConfig& config,
                                                   const engine::EncoderWeights& weights,
                                                   const engine::BackendOptions& options,
                                                   int device);

// One backend per device in `devices` (non-empty, no repeats); with more than
// one, a round-robin backend over them.
std::unique_ptr<engine::Backend> make_cuda_backends(const engine::ModelConfig& config,
                                                    const engine::EncoderWeights& weights,
                                                    const engine::BackendOptions& options,
                                                    const std::vector<int>& devices);

}  // namespace sluice::cuda
