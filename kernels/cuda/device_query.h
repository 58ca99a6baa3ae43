// CUDA device discovery, callable from plain C++ (no CUDA types here).
//
// Used by `sluice --version`, `device: auto` selection and the GPU tests'
// skip logic. Never throws; with no driver or no device it reports zero
// devices and says why.
#pragma once
#include <string>
#include <vector>

namespace sluice::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int compute_major = 0;
  int compute_minor = 0;
  int multiprocessors = 0;
  std::size_t total_memory_bytes = 0;
};

struct DeviceQuery {
  bool built_with_cuda = false;     // false when the build has no CUDA backend
  int runtime_version = 0;          // CUDA runtime the binary was built against (e.g. 13000)
  int driver_version = 0;           // 0 when no driver is loaded
  std::vector<DeviceInfo> devices;  // empty when none is usable
  std::string status;               // human-readable: why there are no devices, if none
};

// Queries the CUDA runtime once per call. Safe to call with no GPU.
DeviceQuery query_devices();

// One line for `sluice --version`, e.g. "cuda: runtime 13.0, 1 device(s): NVIDIA H200 (sm_90, 139
// GiB)".
std::string describe(const DeviceQuery& q);

}  // namespace sluice::cuda
