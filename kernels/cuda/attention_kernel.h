// The choice of attention kernel (see attention.cuh), in plain C++ so that
// the GPU tests can force one without including CUDA headers.
#pragma once
#include <cstdint>

namespace sluice::cuda {

// kAuto: tensor cores where they apply (head_dim 16/32/64), else simple.
enum class AttentionKernel : uint8_t { kAuto, kTensorCore, kSimple };

const char* attention_kernel_name(AttentionKernel k);

}  // namespace sluice::cuda
