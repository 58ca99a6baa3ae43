// Stand-in for builds without the CUDA toolkit (SLUICE_CUDA=OFF or AUTO with
// no nvcc): reports that no CUDA backend exists, so `device: auto` picks CPU.
#include "kernels/cuda/device_query.h"

namespace sluice::cuda {

DeviceQuery query_devices() {
  DeviceQuery q;
  q.status = "this build has no CUDA backend";
  return q;
}

}  // namespace sluice::cuda
