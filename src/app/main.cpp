// sluice command line: dispatches to one command per file (cmd_*.cpp).
#include <cstring>
#include <iostream>
#include <string>

#include "kernels/cuda/device_query.h"

int main(int argc, char** argv) {
  if (argc >= 2 && (std::strcmp(argv[1], "--version") == 0 || std::strcmp(argv[1], "version") == 0)) {
    std::cout << "sluice " << SLUICE_VERSION << '\n'
              << sluice::cuda::describe(sluice::cuda::query_devices()) << '\n';
    return 0;
  }
  std::cerr << "usage: sluice --version\n";
  return 2;
}
