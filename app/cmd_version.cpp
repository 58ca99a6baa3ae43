// `sluice --version`: build and CUDA device information.
#include <iostream>

#include "app/commands.h"
#include "kernels/cuda/device_query.h"

namespace sluice::app {

int cmd_version(int, char**) {
  std::cout << "sluice " << SLUICE_VERSION << '\n'
            << sluice::cuda::describe(sluice::cuda::query_devices()) << '\n';
  return 0;
}

}  // namespace sluice::app
