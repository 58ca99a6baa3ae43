#include "kernels/cpu/encoder_forward.h"

#include <cmath>
#include <cstring>

#include "kernels/cpu/ops.h"

namespace sluice::cpu {
namespace {

std::vector<float> copy(const engine::TensorView& t) {
  return t.empty() ? std::vector<float>{} : std::vector<float>(t.data, t.data + t.size());
}

Linear make_linear(const engine::LinearView& l, bool with_bias, GemmPrecision precision,
                   engine::Activation act = engine::Activation::kIdentity) {
  return Linear(l.weight.data, with_bias ? l.bias.data : nullptr, l.out_features(), l.in_features(),
                act, precision);
}

template <class T>
void grow(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
}

template <class T>
std::size_t bytes_of(const std::vector<T>& v) {
  return v.capacity() * sizeof(T);
}

}  // namespace

EncoderForward::EncoderForward(const engine::ModelConfig& config, const engine::EncoderWeights& w,
                               engine::Pooling pooling, GemmPrecision p)
    : config_(config), pooling_(pooling) {
  word_ = copy(w.word_embeddings);
  position_ = copy(w.position_embeddings);
  type_row_ = copy(w.token_type_row);
  emb_gamma_ = copy(w.embedding_norm.gamma);
  emb_beta_ = copy(w.embedding_norm.beta);
  layers_.reserve(w.layers.size());
  for (const auto& l : w.layers) {
    Layer L;
    L.qkv = make_linear(l.qkv, true, p);
    L.attn_out = make_linear(l.attention_output, false, p);
    L.attn_out_bias = copy(l.attention_output.bias);
    L.attn_gamma = copy(l.attention_norm.gamma);
    L.attn_beta = copy(l.attention_norm.beta);
    L.ffn_in = make_linear(l.ffn_in, true, p, config.hidden_act);
    L.ffn_out = make_linear(l.ffn_out, false, p);
    L.ffn_out_bias = copy(l.ffn_out.bias);
    L.ffn_gamma = copy(l.ffn_norm.gamma);
    L.ffn_beta = copy(l.ffn_norm.beta);
    layers_.push_back(std::move(L));
  }
  // The head runs on one row per record (a sliver of the work) and decides
  // the label: int8 mode keeps it in fp32.
  const GemmPrecision head_p = p == GemmPrecision::kInt8 ? GemmPrecision::kF32 : p;
  head_pre_ = make_linear(w.head.pre, true, head_p, w.head.pre_activation);
  head_out_ = make_linear(w.head.out, true, head_p);
}

void EncoderForward::reserve(int64_t tokens, int64_t records) {
  // Row counts rounded up so the GEMMs run their tails in place (Linear::run).
  tokens = Linear::padded_rows(tokens);
  records = Linear::padded_rows(records);
  const int64_t d = config_.hidden_size;
  grow(position_ids_, tokens);
  grow(row_scale_, tokens);
  grow(x_, tokens * d);
  grow(qkv_, tokens * 3 * d);
  grow(ctx_, tokens * d);
  grow(tmp_, tokens * d);
  grow(ffn_, tokens * config_.intermediate_size);
  grow(first_, records * d);
  grow(head_, records * d);
}

void EncoderForward::layer_tail(Layer& L, float* x, int64_t rows) {
  const int64_t d = config_.hidden_size;
  const int64_t inter = config_.intermediate_size;
  const float eps = config_.layer_norm_eps;
  const int64_t room = Linear::padded_rows(rows);  // every workspace has this many rows
  // int8: the output GEMMs leave their input row scales to add_layernorm.
  float* scale = row_scale_.data();
  bool deferred = L.attn_out.run(ctx_.data(), d, rows, tmp_.data(), d, room, scale);
  add_layernorm(tmp_.data(), d, L.attn_out_bias.data(), x, d, L.attn_gamma.data(),
                L.attn_beta.data(), eps, rows, d, x, d, deferred ? scale : nullptr);
  L.ffn_in.run(x, d, rows, ffn_.data(), inter, room);
  deferred = L.ffn_out.run(ffn_.data(), inter, rows, tmp_.data(), d, room, scale);
  add_layernorm(tmp_.data(), d, L.ffn_out_bias.data(), x, d, L.ffn_gamma.data(), L.ffn_beta.data(),
                eps, rows, d, x, d, deferred ? scale : nullptr);
}

void EncoderForward::run(const engine::EncoderBatch& batch, const engine::EncoderOutputs& out) {
  const int64_t T = batch.tokens();
  const int64_t B = batch.records();
  const int64_t d = config_.hidden_size;
  const int64_t heads = config_.num_heads;
  const int64_t dh = config_.head_dim();
  const float scale = 1.f / std::sqrt(static_cast<float>(dh));
  const int32_t* cu = batch.cu_seqlens.data();
  reserve(T, B);
  engine::position_ids(config_, batch.token_ids.data(), batch.cu_seqlens.data(), batch.records(),
                       position_ids_.data());

  embedding_layernorm(batch.token_ids.data(), position_ids_.data(), T, word_.data(),
                      position_.data(), type_row_.empty() ? nullptr : type_row_.data(),
                      emb_gamma_.data(), emb_beta_.data(), config_.layer_norm_eps, d, x_.data());

  // The head reads only each sequence's first position, so the last block
  // needs K and V for every token but queries, FFN and norms only for those
  // rows. Mean pooling needs every token to the end.
  const bool every_token_to_the_end = pooling_ == engine::Pooling::kMean && !out.pooled.empty();
  bool first_rows_ready = false;
  for (size_t l = 0; l < layers_.size(); ++l) {
    Layer& L = layers_[l];
    L.qkv.run(x_.data(), d, T, qkv_.data(), 3 * d, Linear::padded_rows(T));
    if (l + 1 < layers_.size() || every_token_to_the_end) {
      attention(qkv_.data(), 3 * d, cu, B, heads, dh, scale, false, ctx_.data(), d);
      layer_tail(L, x_.data(), T);
    } else {
      attention(qkv_.data(), 3 * d, cu, B, heads, dh, scale, true, ctx_.data(), d);
      for (int64_t s = 0; s < B; ++s)
        std::memcpy(first_.data() + s * d, x_.data() + static_cast<int64_t>(cu[s]) * d,
                    sizeof(float) * d);
      layer_tail(L, first_.data(), B);
      first_rows_ready = true;
    }
  }
  if (!first_rows_ready) {
    for (int64_t s = 0; s < B; ++s)
      std::memcpy(first_.data() + s * d, x_.data() + static_cast<int64_t>(cu[s]) * d,
                  sizeof(float) * d);
  }

  head_pre_.run(first_.data(), d, B, head_.data(), d, Linear::padded_rows(B));
  head_out_.run(head_.data(), d, B, out.logits.data(), config_.num_labels);

  if (!out.pooled.empty()) {
    switch (pooling_) {
      case engine::Pooling::kHead:
        std::memcpy(out.pooled.data(), head_.data(), sizeof(float) * B * d);
        break;
      case engine::Pooling::kFirstToken:
        std::memcpy(out.pooled.data(), first_.data(), sizeof(float) * B * d);
        break;
      case engine::Pooling::kMean:
        mean_pool(x_.data(), d, cu, B, d, out.pooled.data(), d);
        break;
    }
  }
}

std::size_t EncoderForward::weight_bytes() const {
  std::size_t n = bytes_of(word_) + bytes_of(position_) + bytes_of(type_row_) +
                  bytes_of(emb_gamma_) + bytes_of(emb_beta_) + head_pre_.bytes() +
                  head_out_.bytes();
  for (const auto& L : layers_) {
    n += L.qkv.bytes() + L.attn_out.bytes() + L.ffn_in.bytes() + L.ffn_out.bytes() +
         bytes_of(L.attn_out_bias) + bytes_of(L.attn_gamma) + bytes_of(L.attn_beta) +
         bytes_of(L.ffn_out_bias) + bytes_of(L.ffn_gamma) + bytes_of(L.ffn_beta);
  }
  return n;
}

std::size_t EncoderForward::workspace_bytes() const {
  return bytes_of(position_ids_) + bytes_of(row_scale_) + bytes_of(x_) + bytes_of(qkv_) +
         bytes_of(ctx_) + bytes_of(tmp_) + bytes_of(ffn_) + bytes_of(first_) + bytes_of(head_);
}

}  // namespace sluice::cpu
