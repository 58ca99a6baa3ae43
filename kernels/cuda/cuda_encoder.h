// The encoder forward on one device: weights uploaded once (matrices and
// embedding tables as fp16/bf16, biases and LayerNorm parameters as fp32),
// and enqueue(), which puts one whole forward on a stream: embeddings +
// LayerNorm → N × (QKV GEMM, fused attention, output GEMM, bias + residual +
// LayerNorm, FFN GEMM, bias + activation, GEMM, bias + residual + LayerNorm)
// → classifier head → fp32 logits (and pooled vectors). The last layer runs
// its tail only on each sequence's first row when nothing needs the others.
//
// Not thread-safe in use: one enqueue at a time per stream, and the device
// must be current. Internal header (CUDA types): kernels/cuda only.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/cuda/dtype.h"
#include "kernels/cuda/handles.h"
#include "src/engine/backend.h"
#include "src/engine/encoder_weights.h"
#include "src/engine/model_config.h"

namespace sluice::cuda {

// Device pointers into one slot's workspace (see CudaEncoder::carve).
struct EncoderBuffers {
  int32_t* ids = nullptr;           // [tokens]
  int32_t* position_ids = nullptr;  // [tokens]
  int32_t* cu_seqlens = nullptr;    // [records + 1]
  void* x = nullptr;                // [tokens, hidden]: the residual stream
  void* qkv = nullptr;              // [tokens, 3 hidden]
  void* ctx = nullptr;              // [tokens, hidden]: attention output
  void* tmp = nullptr;              // [tokens, hidden]: GEMM outputs before add_layernorm
  void* ffn = nullptr;              // [tokens, intermediate]
  void* first = nullptr;            // [records, hidden]: first-token rows
  void* head = nullptr;             // [records, hidden]: the head's hidden vector
  float* logits = nullptr;          // [records, num_labels]
  float* pooled = nullptr;          // [records, hidden]
};

// What one forward computes. tokens/records/max_seqlen are the sizes the
// kernels are launched for (a CUDA-graph bucket may exceed the batch's own).
struct ForwardShape {
  int64_t tokens = 0;
  int64_t records = 0;
  int64_t max_seqlen = 0;
  bool pooled = false;  // also write EncoderBuffers::pooled
};

class CudaEncoder {
 public:
  // Uploads the weights to the current device (synchronously). Throws
  // CudaError (out of memory included) or std::invalid_argument when the
  // weights do not match the config.
  CudaEncoder(const engine::ModelConfig& config, const engine::EncoderWeights& weights, DType dt,
              engine::Pooling pooling);

  DType dtype() const { return dt_; }
  std::size_t weight_bytes() const { return matrices_.bytes() + vectors_.bytes(); }

  // Bytes of one workspace for `tokens` tokens and `records` records, and its
  // partition (base from cudaMalloc: 256-byte aligned sub-buffers).
  static std::size_t workspace_bytes(const engine::ModelConfig& config, int64_t tokens,
                                     int64_t records);
  static EncoderBuffers carve(void* base, const engine::ModelConfig& config, int64_t tokens,
                              int64_t records);
  // Upper bound of weight_bytes() before uploading (for the memory check).
  static std::size_t weight_bytes_needed(const engine::ModelConfig& config);

  // Enqueues the forward on `stream` (the handle must be bound to it). Inputs
  // (ids, position_ids, cu_seqlens) must be on the device; no host sync and no
  // allocation, so it can be captured into a CUDA graph.
  void enqueue(const EncoderBuffers& b, const ForwardShape& shape, cudaStream_t stream,
               cublasHandle_t blas) const;

 private:
  struct Layer {
    const void* w_qkv;
    const float* b_qkv;
    const void* w_o;
    const float* b_o;
    const float* ln1_g;
    const float* ln1_b;
    const void* w_1;
    const float* b_1;
    const void* w_2;
    const float* b_2;
    const float* ln2_g;
    const float* ln2_b;
  };

  // One block of the layer after attention, over `rows` rows whose
  // attention output is b.ctx and residual stream is x.
  void layer_tail(const Layer& L, const EncoderBuffers& b, void* x, int64_t rows,
                  cudaStream_t stream, cublasHandle_t blas) const;

  engine::ModelConfig config_;
  DType dt_;
  engine::Pooling pooling_;
  DeviceBuffer matrices_;  // dt
  DeviceBuffer vectors_;   // fp32
  const void* word_ = nullptr;
  const void* position_ = nullptr;
  const float* type_row_ = nullptr;
  const float* emb_g_ = nullptr;
  const float* emb_b_ = nullptr;
  std::vector<Layer> layers_;
  const void* head_w_pre_ = nullptr;
  const float* head_b_pre_ = nullptr;
  const float* head_w_out_ = nullptr;
  const float* head_b_out_ = nullptr;
  engine::Activation head_act_ = engine::Activation::kTanh;
};

}  // namespace sluice::cuda
