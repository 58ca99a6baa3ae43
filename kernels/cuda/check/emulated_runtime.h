// Knobs and counters of the emulated CUDA runtime (emulated_runtime.cpp), for
// the emulation tests: the one fake device's properties and memory, and how
// many runtime objects are alive (so a test can check a backend releases
// everything it created).
#pragma once
#include <cstddef>

namespace sluice::cuda::emu {

struct EmulatedDevice {
  int count = 1;  // devices reported (0: cudaGetDeviceCount fails with cudaErrorNoDevice)
  int major = 9, minor = 0;
  std::size_t total_bytes = std::size_t{80}
                            << 30;  // cudaMemGetInfo's total; free = total − allocated
};
EmulatedDevice& emulated_device();

struct LiveObjects {
  std::size_t device_allocations = 0, device_bytes = 0, host_allocations = 0, streams = 0,
              events = 0, graphs = 0, graph_execs = 0, captures = 0, graph_launches = 0;
};
LiveObjects live_objects();

}  // namespace sluice::cuda::emu
