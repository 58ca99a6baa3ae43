// The 16-bit storage types of the CUDA backend: weights and activations live
// on the device as fp16 or bf16 (BackendOptions::dtype), every reduction and
// matrix product accumulates in fp32. Plain C++: shared by the backend, its
// host-side tools and the GPU tests.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sluice::cuda {

enum class DType : uint8_t { kF16, kBF16 };

inline const char* dtype_name(DType t) { return t == DType::kF16 ? "fp16" : "bf16"; }

inline constexpr std::size_t dtype_bytes(DType) { return 2; }

// "fp16" / "float16" / "half" or "bf16" / "bfloat16"; anything else is an
// std::invalid_argument that names the value.
inline DType parse_dtype(std::string_view s) {
  if (s == "fp16" || s == "float16" || s == "half") return DType::kF16;
  if (s == "bf16" || s == "bfloat16") return DType::kBF16;
  throw std::invalid_argument("dtype '" + std::string(s) + "': expected fp16 or bf16");
}

}  // namespace sluice::cuda
