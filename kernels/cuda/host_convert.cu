// Host code only: cuda_fp16.h / cuda_bf16.h give host implementations of the
// same round-to-nearest-even conversions the kernels use.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstring>

#include "kernels/cuda/host_convert.h"

namespace sluice::cuda {

void to_dtype_host(DType dt, const float* in, std::size_t n, uint16_t* out) {
  if (dt == DType::kF16) {
    for (std::size_t i = 0; i < n; ++i) {
      const __half h = __float2half_rn(in[i]);
      std::memcpy(out + i, &h, 2);
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      const __nv_bfloat16 b = __float2bfloat16_rn(in[i]);
      std::memcpy(out + i, &b, 2);
    }
  }
}

void from_dtype_host(DType dt, const uint16_t* in, std::size_t n, float* out) {
  if (dt == DType::kF16) {
    for (std::size_t i = 0; i < n; ++i) {
      __half h;
      std::memcpy(&h, in + i, 2);
      out[i] = __half2float(h);
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      __nv_bfloat16 b;
      std::memcpy(&b, in + i, 2);
      out[i] = __bfloat162float(b);
    }
  }
}

}  // namespace sluice::cuda
