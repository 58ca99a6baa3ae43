// CUDA device discovery (see device_query.h).
#include <cuda_runtime.h>

#include <sstream>

#include "kernels/cuda/device_query.h"

namespace sluice::cuda {

DeviceQuery query_devices() {
  DeviceQuery q;
  q.built_with_cuda = true;
  cudaRuntimeGetVersion(&q.runtime_version);
  if (cudaDriverGetVersion(&q.driver_version) != cudaSuccess) q.driver_version = 0;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    q.status = std::string("no CUDA device: ") + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return q;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    DeviceInfo d;
    d.index = i;
    d.name = prop.name;
    d.compute_major = prop.major;
    d.compute_minor = prop.minor;
    d.multiprocessors = prop.multiProcessorCount;
    d.total_memory_bytes = prop.totalGlobalMem;
    q.devices.push_back(std::move(d));
  }
  q.status = q.devices.empty() ? "no CUDA device" : "ok";
  return q;
}

}  // namespace sluice::cuda
