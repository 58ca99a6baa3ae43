// Element-wise activations named by model configs and applied by every
// backend's fused kernels. Kept in its own header (no other dependencies) so
// that ISA-specific kernel units and CUDA units can include it safely.
#pragma once
#include <cstdint>

namespace sluice::engine {

enum class Activation : uint8_t {
  kIdentity,
  kGeluErf,   // Hugging Face "gelu": x/2 (1 + erf(x/sqrt 2))
  kGeluTanh,  // "gelu_new", "gelu_pytorch_tanh", "gelu_fast"
  kRelu,
  kTanh,      // BERT pooler, RoBERTa classification head
};

inline const char* activation_name(Activation a) {
  switch (a) {
    case Activation::kIdentity: return "identity";
    case Activation::kGeluErf: return "gelu";
    case Activation::kGeluTanh: return "gelu_tanh";
    case Activation::kRelu: return "relu";
    case Activation::kTanh: return "tanh";
  }
  return "?";
}

}  // namespace sluice::engine
