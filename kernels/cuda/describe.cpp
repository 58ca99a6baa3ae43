// Formatting of DeviceQuery, shared by the CUDA and no-CUDA builds.
#include <sstream>

#include "kernels/cuda/device_query.h"

namespace sluice::cuda {

std::string describe(const DeviceQuery& q) {
  std::ostringstream os;
  if (!q.built_with_cuda) return "cuda: not built (SLUICE_CUDA=OFF or no toolkit found)";
  os << "cuda: runtime " << q.runtime_version / 1000 << '.' << (q.runtime_version % 1000) / 10;
  if (q.devices.empty()) {
    os << ", " << q.status;
    return os.str();
  }
  os << ", " << q.devices.size() << " device(s):";
  for (const auto& d : q.devices) {
    os << ' ' << d.name << " (sm_" << d.compute_major << d.compute_minor << ", "
       << d.total_memory_bytes / (1024ull * 1024 * 1024) << " GiB)";
  }
  return os.str();
}

}  // namespace sluice::cuda
