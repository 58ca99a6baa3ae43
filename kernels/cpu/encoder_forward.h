// The encoder forward pass on the CPU, synchronous, on the calling thread's
// team: embeddings+LayerNorm → N × (QKV GEMM, packed attention, output GEMM,
// bias+residual+LayerNorm, FFN GEMM+GELU, GEMM, bias+residual+LayerNorm) →
// classifier head. Owns packed weights and grow-only workspaces, so repeated
// batches allocate nothing once the largest has been seen. Not thread-safe:
// one forward at a time (cpu_backend.cpp's worker).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/cpu/linear.h"
#include "src/engine/backend.h"
#include "src/engine/encoder_weights.h"
#include "src/engine/model_config.h"

namespace sluice::cpu {

class EncoderForward {
 public:
  EncoderForward(const engine::ModelConfig& config, const engine::EncoderWeights& weights,
                 engine::Pooling pooling, GemmPrecision precision);

  // Preconditions: engine::check_batch(batch, out, config) is empty.
  void run(const engine::EncoderBatch& batch, const engine::EncoderOutputs& out);

  // Grows the workspaces to hold `tokens` tokens and `records` records.
  void reserve(int64_t tokens, int64_t records);

  std::size_t weight_bytes() const;
  std::size_t workspace_bytes() const;

 private:
  struct Layer {
    Linear qkv;       // bias fused
    Linear attn_out;  // bias added by add_layernorm
    std::vector<float> attn_out_bias, attn_gamma, attn_beta;
    Linear ffn_in;   // bias + activation fused in the GEMM
    Linear ffn_out;  // bias added by add_layernorm
    std::vector<float> ffn_out_bias, ffn_gamma, ffn_beta;
  };

  // One block over `rows` query rows whose residual stream is x (ld = hidden).
  void layer_tail(Layer& layer, float* x, int64_t rows);

  engine::ModelConfig config_;
  engine::Pooling pooling_;
  std::vector<float> word_, position_, type_row_, emb_gamma_, emb_beta_;
  std::vector<Layer> layers_;
  Linear head_pre_;  // bias + activation fused
  Linear head_out_;

  // Workspaces (grow only).
  std::vector<int32_t> position_ids_;
  std::vector<float> row_scale_;                  // per token: int8 deferred input scales
  std::vector<float> x_, qkv_, ctx_, tmp_, ffn_;  // per token
  std::vector<float> first_, head_;               // per record
};

}  // namespace sluice::cpu
