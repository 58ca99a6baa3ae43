// fp32 <-> fp16/bf16 on the host, bit-exact with the device's conversions
// (round to nearest even): for uploading weights and, in the tests, for
// rounding reference inputs exactly as the device sees them. Plain C++.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/cuda/dtype.h"

namespace sluice::cuda {

void to_dtype_host(DType dt, const float* in, std::size_t n, uint16_t* out);
void from_dtype_host(DType dt, const uint16_t* in, std::size_t n, float* out);

}  // namespace sluice::cuda
