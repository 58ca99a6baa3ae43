#include "kernels/cuda/cuda_encoder.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cuda/add_layernorm.cuh"
#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/bias_activation.cuh"
#include "kernels/cuda/classifier_out.cuh"
#include "kernels/cuda/embedding_layernorm.cuh"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/host_convert.h"
#include "kernels/cuda/pooling.cuh"

namespace sluice::cuda {
namespace {

constexpr std::size_t kAlign16 = 128;  // 2-byte elements per 256 bytes
constexpr std::size_t kAlignF32 = 64;  // floats per 256 bytes

std::size_t round_up(std::size_t x, std::size_t a) { return (x + a - 1) / a * a; }

void expect_shape(const engine::TensorView& t, int64_t rows, int64_t cols,
                  const std::string& what) {
  if (t.data == nullptr || t.rows != rows || t.cols != cols)
    throw std::invalid_argument("cuda backend: weight " + what + " is [" + std::to_string(t.rows) +
                                ", " + std::to_string(t.cols) + "], the config needs [" +
                                std::to_string(rows) + ", " + std::to_string(cols) + "]");
}

// Host images of the two device arenas, filled tensor by tensor.
struct HostArenas {
  DType dt;
  std::vector<uint16_t> m;  // dt
  std::vector<float> v;     // fp32

  std::size_t matrix(const engine::TensorView& t) {
    const std::size_t off = round_up(m.size(), kAlign16);
    m.resize(off + static_cast<std::size_t>(t.size()));
    to_dtype_host(dt, t.data, static_cast<std::size_t>(t.size()), m.data() + off);
    return off;
  }
  std::size_t vector(const engine::TensorView& t) {
    const std::size_t off = round_up(v.size(), kAlignF32);
    v.resize(off + static_cast<std::size_t>(t.size()));
    std::copy(t.data, t.data + t.size(), v.begin() + static_cast<std::ptrdiff_t>(off));
    return off;
  }
};

// Walks the workspace partition in one fixed order; `take(bytes)` returns
// each sub-buffer's offset.
template <class Take>
void workspace_layout(const engine::ModelConfig& c, int64_t tokens, int64_t records, Take&& take) {
  const auto T = static_cast<std::size_t>(
      std::max<int64_t>(tokens, records));  // last-layer rows may be records
  const auto Tids = static_cast<std::size_t>(tokens);
  const auto B = static_cast<std::size_t>(records);
  const auto d = static_cast<std::size_t>(c.hidden_size);
  const auto inter = static_cast<std::size_t>(c.intermediate_size);
  const auto labels = static_cast<std::size_t>(c.num_labels);
  take(Tids * 4);        // ids
  take(Tids * 4);        // position ids
  take((B + 1) * 4);     // cu_seqlens
  take(T * d * 2);       // x
  take(T * 3 * d * 2);   // qkv
  take(T * d * 2);       // ctx
  take(T * d * 2);       // tmp
  take(T * inter * 2);   // ffn
  take(B * d * 2);       // first
  take(B * d * 2);       // head
  take(B * labels * 4);  // logits
  take(B * d * 4);       // pooled
}

}  // namespace

std::size_t CudaEncoder::workspace_bytes(const engine::ModelConfig& config, int64_t tokens,
                                         int64_t records) {
  std::size_t total = 0;
  workspace_layout(config, tokens, records, [&](std::size_t bytes) {
    const std::size_t off = total;
    total = round_up(total + bytes, 256);
    return off;
  });
  return total;
}

EncoderBuffers CudaEncoder::carve(void* base, const engine::ModelConfig& config, int64_t tokens,
                                  int64_t records) {
  std::vector<char*> p;
  std::size_t total = 0;
  workspace_layout(config, tokens, records, [&](std::size_t bytes) {
    p.push_back(static_cast<char*>(base) + total);
    total = round_up(total + bytes, 256);
  });
  EncoderBuffers b;
  b.ids = reinterpret_cast<int32_t*>(p[0]);
  b.position_ids = reinterpret_cast<int32_t*>(p[1]);
  b.cu_seqlens = reinterpret_cast<int32_t*>(p[2]);
  b.x = p[3];
  b.qkv = p[4];
  b.ctx = p[5];
  b.tmp = p[6];
  b.ffn = p[7];
  b.first = p[8];
  b.head = p[9];
  b.logits = reinterpret_cast<float*>(p[10]);
  b.pooled = reinterpret_cast<float*>(p[11]);
  return b;
}

std::size_t CudaEncoder::weight_bytes_needed(const engine::ModelConfig& c) {
  const std::size_t d = static_cast<std::size_t>(c.hidden_size),
                    inter = static_cast<std::size_t>(c.intermediate_size);
  const std::size_t layers = static_cast<std::size_t>(c.num_layers),
                    labels = static_cast<std::size_t>(c.num_labels);
  const std::size_t m = static_cast<std::size_t>(c.vocab_size) * d +
                        static_cast<std::size_t>(c.max_position_embeddings) * d +
                        layers * (4 * d * d + 2 * d * inter) + d * d + (3 + 4 * layers) * kAlign16;
  const std::size_t v = 3 * d + layers * (3 * d + d + 2 * d + inter + d + 2 * d) + d + labels * d +
                        labels + (5 + 8 * layers + 3) * kAlignF32;
  return m * 2 + v * 4;
}

CudaEncoder::CudaEncoder(const engine::ModelConfig& config, const engine::EncoderWeights& w,
                         DType dt, engine::Pooling pooling)
    : config_(config), dt_(dt), pooling_(pooling) {
  const int64_t d = config.hidden_size, inter = config.intermediate_size;
  if (d <= 0 || config.num_heads <= 0 || d % config.num_heads != 0 || inter <= 0 ||
      config.num_labels <= 0)
    throw std::invalid_argument(
        "cuda backend: the config's hidden/heads/intermediate/labels sizes are not usable");
  if (static_cast<int64_t>(w.layers.size()) != config.num_layers)
    throw std::invalid_argument("cuda backend: weights have " + std::to_string(w.layers.size()) +
                                " layers, the config " + std::to_string(config.num_layers));
  expect_shape(w.word_embeddings, config.vocab_size, d, "word_embeddings");
  expect_shape(w.position_embeddings, config.max_position_embeddings, d, "position_embeddings");
  if (!w.token_type_row.empty()) expect_shape(w.token_type_row, 1, d, "token_type_row");
  expect_shape(w.embedding_norm.gamma, 1, d, "embedding LayerNorm weight");
  expect_shape(w.embedding_norm.beta, 1, d, "embedding LayerNorm bias");

  HostArenas a{dt, {}, {}};
  struct Offsets {
    std::size_t w_qkv, b_qkv, w_o, b_o, ln1_g, ln1_b, w_1, b_1, w_2, b_2, ln2_g, ln2_b;
  };
  const std::size_t word = a.matrix(w.word_embeddings);
  const std::size_t position = a.matrix(w.position_embeddings);
  const std::size_t type_row = w.token_type_row.empty() ? 0 : a.vector(w.token_type_row);
  const std::size_t emb_g = a.vector(w.embedding_norm.gamma);
  const std::size_t emb_b = a.vector(w.embedding_norm.beta);
  std::vector<Offsets> lo;
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const auto& l = w.layers[i];
    const std::string n = "layer " + std::to_string(i) + " ";
    expect_shape(l.qkv.weight, 3 * d, d, n + "qkv weight");
    expect_shape(l.qkv.bias, 1, 3 * d, n + "qkv bias");
    expect_shape(l.attention_output.weight, d, d, n + "attention output weight");
    expect_shape(l.attention_output.bias, 1, d, n + "attention output bias");
    expect_shape(l.attention_norm.gamma, 1, d, n + "attention LayerNorm weight");
    expect_shape(l.attention_norm.beta, 1, d, n + "attention LayerNorm bias");
    expect_shape(l.ffn_in.weight, inter, d, n + "FFN input weight");
    expect_shape(l.ffn_in.bias, 1, inter, n + "FFN input bias");
    expect_shape(l.ffn_out.weight, d, inter, n + "FFN output weight");
    expect_shape(l.ffn_out.bias, 1, d, n + "FFN output bias");
    expect_shape(l.ffn_norm.gamma, 1, d, n + "FFN LayerNorm weight");
    expect_shape(l.ffn_norm.beta, 1, d, n + "FFN LayerNorm bias");
    lo.push_back({a.matrix(l.qkv.weight), a.vector(l.qkv.bias), a.matrix(l.attention_output.weight),
                  a.vector(l.attention_output.bias), a.vector(l.attention_norm.gamma),
                  a.vector(l.attention_norm.beta), a.matrix(l.ffn_in.weight),
                  a.vector(l.ffn_in.bias), a.matrix(l.ffn_out.weight), a.vector(l.ffn_out.bias),
                  a.vector(l.ffn_norm.gamma), a.vector(l.ffn_norm.beta)});
  }
  expect_shape(w.head.pre.weight, d, d, "classifier head dense weight");
  expect_shape(w.head.pre.bias, 1, d, "classifier head dense bias");
  expect_shape(w.head.out.weight, config.num_labels, d, "classifier output weight");
  expect_shape(w.head.out.bias, 1, config.num_labels, "classifier output bias");
  const std::size_t w_pre = a.matrix(w.head.pre.weight);
  const std::size_t b_pre = a.vector(w.head.pre.bias);
  const std::size_t w_out = a.vector(w.head.out.weight);
  const std::size_t b_out = a.vector(w.head.out.bias);

  matrices_ = DeviceBuffer(a.m.size() * 2, "upload weights (matrices)");
  vectors_ = DeviceBuffer(a.v.size() * 4, "upload weights (vectors)");
  SLUICE_CUDA_CHECK(cudaMemcpy(matrices_.get(), a.m.data(), a.m.size() * 2, cudaMemcpyHostToDevice),
                    "upload weights (matrices)");
  SLUICE_CUDA_CHECK(cudaMemcpy(vectors_.get(), a.v.data(), a.v.size() * 4, cudaMemcpyHostToDevice),
                    "upload weights (vectors)");

  const auto M = [&](std::size_t off) -> const void* { return matrices_.get<uint16_t>() + off; };
  const auto V = [&](std::size_t off) -> const float* { return vectors_.get<float>() + off; };
  word_ = M(word);
  position_ = M(position);
  type_row_ = w.token_type_row.empty() ? nullptr : V(type_row);
  emb_g_ = V(emb_g);
  emb_b_ = V(emb_b);
  for (const auto& o : lo) {
    layers_.push_back({M(o.w_qkv), V(o.b_qkv), M(o.w_o), V(o.b_o), V(o.ln1_g), V(o.ln1_b), M(o.w_1),
                       V(o.b_1), M(o.w_2), V(o.b_2), V(o.ln2_g), V(o.ln2_b)});
  }
  head_w_pre_ = M(w_pre);
  head_b_pre_ = V(b_pre);
  head_w_out_ = V(w_out);
  head_b_out_ = V(b_out);
  head_act_ = w.head.pre_activation;
  attention_prepare(dt_, config_.head_dim());
}

void CudaEncoder::layer_tail(const Layer& L, const EncoderBuffers& b, void* x, int64_t rows,
                             cudaStream_t stream, cublasHandle_t blas) const {
  const int64_t d = config_.hidden_size, inter = config_.intermediate_size;
  const float eps = config_.layer_norm_eps;
  linear(blas, dt_, b.ctx, d, L.w_o, rows, d, d, b.tmp, d);
  add_layernorm(dt_, b.tmp, d, L.b_o, x, d, L.ln1_g, L.ln1_b, eps, rows, d, x, d, stream);
  linear(blas, dt_, x, d, L.w_1, rows, inter, d, b.ffn, inter);
  bias_activation(dt_, b.ffn, inter, rows, inter, L.b_1, config_.hidden_act, stream);
  linear(blas, dt_, b.ffn, inter, L.w_2, rows, d, inter, b.tmp, d);
  add_layernorm(dt_, b.tmp, d, L.b_2, x, d, L.ln2_g, L.ln2_b, eps, rows, d, x, d, stream);
}

void CudaEncoder::enqueue(const EncoderBuffers& b, const ForwardShape& s, cudaStream_t stream,
                          cublasHandle_t blas) const {
  const int64_t T = s.tokens, B = s.records;
  const int64_t d = config_.hidden_size, heads = config_.num_heads, dh = config_.head_dim();
  const float scale = 1.f / std::sqrt(static_cast<float>(dh));
  embedding_layernorm(dt_, b.ids, b.position_ids, T, word_, position_, type_row_, emb_g_, emb_b_,
                      config_.layer_norm_eps, d, b.x, stream);

  // As the CPU backend: the head reads only each sequence's first row, so
  // the last block needs K and V of every token but its tail only for those
  // rows, unless mean pooling needs every row to the end.
  const bool every_token_to_the_end = pooling_ == engine::Pooling::kMean && s.pooled;
  bool first_rows_ready = false;
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = layers_[l];
    linear(blas, dt_, b.x, d, L.w_qkv, T, 3 * d, d, b.qkv, 3 * d);
    const bool last_first_only = l + 1 == layers_.size() && !every_token_to_the_end;
    attention(dt_, b.qkv, 3 * d, L.b_qkv, b.cu_seqlens, B, s.max_seqlen, heads, dh, scale,
              last_first_only, b.ctx, d, stream);
    if (!last_first_only) {
      layer_tail(L, b, b.x, T, stream, blas);
    } else {
      gather_first_rows(dt_, b.x, d, b.cu_seqlens, B, d, b.first, d, stream);
      layer_tail(L, b, b.first, B, stream, blas);
      first_rows_ready = true;
    }
  }
  if (!first_rows_ready) gather_first_rows(dt_, b.x, d, b.cu_seqlens, B, d, b.first, d, stream);

  linear(blas, dt_, b.first, d, head_w_pre_, B, d, d, b.head, d);
  bias_activation(dt_, b.head, d, B, d, head_b_pre_, head_act_, stream);
  classifier_out(dt_, b.head, d, head_w_out_, head_b_out_, B, config_.num_labels, d, b.logits,
                 stream);
  if (!s.pooled) return;
  switch (pooling_) {
    case engine::Pooling::kHead:
      rows_to_f32(dt_, b.head, d, B, d, b.pooled, d, stream);
      break;
    case engine::Pooling::kFirstToken:
      rows_to_f32(dt_, b.first, d, B, d, b.pooled, d, stream);
      break;
    case engine::Pooling::kMean:
      mean_pool(dt_, b.x, d, b.cu_seqlens, B, d, b.pooled, d, stream);
      break;
  }
}

}  // namespace sluice::cuda
