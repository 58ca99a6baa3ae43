// The softmax and sigmoid kernels (see softmax.cuh for the ops): one block
// per row, threads stride over the columns, in place. Kernel code only,
// included by softmax.cu (the launcher) and by the host emulation test.
#pragma once
#include "kernels/cuda/device_common.cuh"

namespace sluice::cuda {

constexpr int kSoftmaxThreads = 128;
// softmax_rows_kernel's dynamic shared memory: block_max/block_sum scratch.
// (Dynamic rather than a static __shared__ array so that the host emulation
// runs the kernel as it is; the GPU code is the same either way.)
inline constexpr size_t kSoftmaxSmemBytes = 32 * sizeof(float);

// Not templates, so static: internal linkage, as the kernels had in
// softmax.cu's anonymous namespace, whichever translation units include this.

// One block per row: max, then sum of exp(x - max), then scale.
static __global__ void softmax_rows_kernel(float* __restrict__ x, int64_t ld, int cols) {
  float* scratch = reinterpret_cast<float*>(dynamic_smem());  // 32 floats
  float* row = x + blockIdx.x * ld;
  float m = -INFINITY;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, row[c]);
  m = block_max(m, scratch);
  float sum = 0.f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    const float e = expf(row[c] - m);
    row[c] = e;
    sum += e;
  }
  const float inv = 1.f / block_sum(sum, scratch);
  for (int c = threadIdx.x; c < cols; c += blockDim.x) row[c] *= inv;
}

static __global__ void sigmoid_rows_kernel(float* __restrict__ x, int64_t ld, int cols) {
  float* row = x + blockIdx.x * ld;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) row[c] = 1.f / (1.f + expf(-row[c]));
}

}  // namespace sluice::cuda
