#include <algorithm>
#include <vector>

#include "kernels/cuda/cuda_error.h"
#include "kernels/cuda/device_common.cuh"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/gemm_peak.h"
#include "kernels/cuda/handles.h"

namespace sluice::cuda {
namespace {

// Uniform values in [-1, 1) from a hash of the index: random-looking data
// (zeros would time faster than real inputs do).
template <class T>
__global__ void fill_random_kernel(T* p, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    uint32_t x = static_cast<uint32_t>(i) * 2654435761u ^ seed;
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    p[i] = from_f32<T>(static_cast<float>(x) * (2.f / 4294967296.f) - 1.f);
  }
}

}  // namespace

GemmPeak measure_gemm_peak(int device, DType dt, int n, int iters) {
  DeviceGuard guard(device);
  cudaDeviceProp prop{};
  SLUICE_CUDA_CHECK(cudaGetDeviceProperties(&prop, device), "gemm peak");
  const char* op = "gemm peak";
  Stream stream(op);
  CublasHandle blas(stream.get(), op);
  const std::size_t elems = static_cast<std::size_t>(n) * n;
  DeviceBuffer a(elems * 2, op), b(elems * 2, op), c(elems * 2, op);
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    fill_random_kernel<T>
        <<<4096, 256, 0, stream.get()>>>(a.get<T>(), static_cast<int64_t>(elems), 1u);
    fill_random_kernel<T>
        <<<4096, 256, 0, stream.get()>>>(b.get<T>(), static_cast<int64_t>(elems), 2u);
  });
  check_launch("fill_random_kernel", op);
  for (int i = 0; i < 3; ++i) linear(blas.get(), dt, a.get(), n, b.get(), n, n, n, c.get(), n);
  Event start(cudaEventDefault, op), stop(cudaEventDefault, op);
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    SLUICE_CUDA_CHECK(cudaEventRecord(start.get(), stream.get()), op);
    linear(blas.get(), dt, a.get(), n, b.get(), n, n, n, c.get(), n);
    SLUICE_CUDA_CHECK(cudaEventRecord(stop.get(), stream.get()), op);
    SLUICE_CUDA_CHECK(cudaEventSynchronize(stop.get()), op);
    float t = 0;
    SLUICE_CUDA_CHECK(cudaEventElapsedTime(&t, start.get(), stop.get()), op);
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  GemmPeak p;
  p.n = n;
  p.median_ms = ms[ms.size() / 2];
  p.tflops = 2.0 * n * static_cast<double>(n) * n / (p.median_ms * 1e-3) / 1e12;
  p.device = prop.name;
  return p;
}

}  // namespace sluice::cuda
