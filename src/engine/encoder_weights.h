// The weights of an encoder classifier as fp32 host arrays, in the shapes
// Hugging Face uses, after the loader has mapped each architecture's tensor
// names onto this one layout. Backends read these once when they are built
// (to pack or upload them) and keep no pointer into them afterwards.
//
// Views only: the Model that produced them owns the memory.
#pragma once
#include <cstdint>
#include <vector>

#include "src/engine/activation.h"

namespace sluice::engine {

// A row-major fp32 matrix [rows, cols]; a vector has rows == 1.
struct TensorView {
  const float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;

  bool empty() const { return data == nullptr; }
  int64_t size() const { return rows * cols; }
};

// y = x·Wᵀ + b with W [out_features, in_features] (torch.nn.Linear layout).
struct LinearView {
  TensorView weight;
  TensorView bias;  // [1, out_features]

  int64_t in_features() const { return weight.cols; }
  int64_t out_features() const { return weight.rows; }
};

struct LayerNormView {
  TensorView gamma;  // [1, hidden]
  TensorView beta;   // [1, hidden]
};

// One post-LayerNorm transformer block (BERT / DistilBERT / RoBERTa all share it).
struct EncoderLayerView {
  LinearView qkv;  // Q, K and V fused: weight [3·hidden, hidden], rows Q then K then V
  LinearView attention_output;
  LayerNormView attention_norm;
  LinearView ffn_in;   // [intermediate, hidden], followed by hidden_act
  LinearView ffn_out;  // [hidden, intermediate]
  LayerNormView ffn_norm;
};

// Sequence-classification head on the first token's final hidden state:
//   pooled = pre_activation(pre · h₀)   (BERT pooler / DistilBERT pre_classifier / RoBERTa dense)
//   logits = out · pooled
struct ClassifierHeadView {
  LinearView pre;
  Activation pre_activation = Activation::kTanh;  // tanh (BERT, RoBERTa) or relu (DistilBERT)
  LinearView out;                                 // [num_labels, hidden]
};

struct EncoderWeights {
  TensorView word_embeddings;      // [vocab, hidden]
  TensorView position_embeddings;  // [max_positions, hidden]
  TensorView token_type_row;       // [1, hidden]: row 0 of the token-type table; empty for DistilBERT
  LayerNormView embedding_norm;
  std::vector<EncoderLayerView> layers;
  ClassifierHeadView head;
};

}  // namespace sluice::engine
