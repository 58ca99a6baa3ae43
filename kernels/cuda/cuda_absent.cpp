// Stand-in for builds without the CUDA toolkit (SLUICE_CUDA=OFF or AUTO with
// no nvcc): reports that no CUDA backend exists, so `device: auto` picks CPU
// and an explicit `device: cuda` is a clear start-up error.
#include <stdexcept>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_scorer.h"
#include "kernels/cuda/device_query.h"
#include "kernels/cuda/gemm_peak.h"

namespace sluice::cuda {
namespace {

[[noreturn]] void no_cuda(const char* what) {
  throw std::runtime_error(
      std::string(what) +
      ": this build has no CUDA backend (built with SLUICE_CUDA=OFF or without a CUDA toolkit)");
}

}  // namespace

DeviceQuery query_devices() {
  DeviceQuery q;
  q.status = "this build has no CUDA backend";
  return q;
}

std::unique_ptr<engine::Backend> make_cuda_backend(const engine::ModelConfig&,
                                                   const engine::EncoderWeights&,
                                                   const engine::BackendOptions&, int) {
  no_cuda("cuda backend");
}

std::unique_ptr<engine::Backend> make_cuda_backends(const engine::ModelConfig&,
                                                    const engine::EncoderWeights&,
                                                    const engine::BackendOptions&,
                                                    const std::vector<int>&) {
  no_cuda("cuda backend");
}

GemmPeak measure_gemm_peak(int, DType, int, int) { no_cuda("gemm peak"); }

std::unique_ptr<engine::Scorer> make_cuda_scorer(const float*, int64_t, int64_t,
                                                 const engine::ScorerOptions&, int) {
  no_cuda("cuda scorer");
}

}  // namespace sluice::cuda
