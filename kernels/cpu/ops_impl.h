// Fused row kernels, written once over the Vec interface (simd_vec.h) and
// compiled once per ISA. Include only from an ISA unit, inside its own
// namespace, after defining SLUICE_ISA_* (see ops_avx512.cpp).
//
// Every kernel is single-threaded over the rows it is given; ops.cpp splits
// rows (or sequence×head pairs) over threads. No allocation here.
#pragma once

#include "kernels/cpu/simd_vec.h"

using V = Vec;
constexpr int kW = V::kWidth;

// Row LayerNorm of v (already summed, in out) in place: two-pass mean/variance,
// biased variance as torch.nn.LayerNorm.
inline void layernorm_inplace(float* out, int64_t cols, const float* gamma, const float* beta,
                              float eps, float sum) {
  const int64_t full = cols / kW * kW;
  const int tail = static_cast<int>(cols - full);
  const float mean = sum / static_cast<float>(cols);
  const V::T vmean = V::set1(mean);
  V::T acc = V::zero();
  for (int64_t c = 0; c < full; c += kW) {
    V::T d = V::sub(V::load(out + c), vmean);
    acc = V::fmadd(d, d, acc);
  }
  if (tail) {
    V::T d = V::sub(V::load_n(out + full, tail, mean), vmean);
    acc = V::fmadd(d, d, acc);
  }
  const float var = V::hsum(acc) / static_cast<float>(cols);
  const V::T rstd = V::set1(1.f / __builtin_sqrtf(var + eps));
  for (int64_t c = 0; c < full; c += kW) {
    V::T n = V::mul(V::sub(V::load(out + c), vmean), rstd);
    V::store(out + c, V::fmadd(n, V::load(gamma + c), V::load(beta + c)));
  }
  if (tail) {
    V::T n = V::mul(V::sub(V::load_n(out + full, tail), vmean), rstd);
    V::store_n(out + full, V::fmadd(n, V::load_n(gamma + full, tail), V::load_n(beta + full, tail)),
               tail);
  }
}

inline void k_embedding_layernorm(const int32_t* ids, const int32_t* pos, int64_t n,
                                  const float* word, const float* position, const float* type_row,
                                  const float* gamma, const float* beta, float eps, int64_t hidden,
                                  float* out) {
  const int64_t full = hidden / kW * kW;
  const int tail = static_cast<int>(hidden - full);
  for (int64_t t = 0; t < n; ++t) {
    const float* w = word + static_cast<int64_t>(ids[t]) * hidden;
    const float* p = position + static_cast<int64_t>(pos[t]) * hidden;
    float* o = out + t * hidden;
    V::T acc = V::zero();
    for (int64_t c = 0; c < full; c += kW) {
      V::T v = V::add(V::load(w + c), V::load(p + c));
      if (type_row) v = V::add(v, V::load(type_row + c));
      V::store(o + c, v);
      acc = V::add(acc, v);
    }
    if (tail) {
      V::T v = V::add(V::load_n(w + full, tail), V::load_n(p + full, tail));
      if (type_row) v = V::add(v, V::load_n(type_row + full, tail));
      V::store_n(o + full, v, tail);
      acc = V::add(acc, v);
    }
    layernorm_inplace(o, hidden, gamma, beta, eps, V::hsum(acc));
  }
}

inline void k_add_layernorm(const float* x, int64_t ld_x, const float* bias, const float* residual,
                            int64_t ld_res, const float* gamma, const float* beta, float eps,
                            int64_t rows, int64_t cols, float* out, int64_t ld_out) {
  const int64_t full = cols / kW * kW;
  const int tail = static_cast<int>(cols - full);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * ld_x;
    const float* rr = residual ? residual + r * ld_res : nullptr;
    float* o = out + r * ld_out;
    V::T acc = V::zero();
    for (int64_t c = 0; c < full; c += kW) {
      V::T v = V::load(xr + c);
      if (bias) v = V::add(v, V::load(bias + c));
      if (rr) v = V::add(v, V::load(rr + c));
      V::store(o + c, v);
      acc = V::add(acc, v);
    }
    if (tail) {
      V::T v = V::load_n(xr + full, tail);
      if (bias) v = V::add(v, V::load_n(bias + full, tail));
      if (rr) v = V::add(v, V::load_n(rr + full, tail));
      V::store_n(o + full, v, tail);
      acc = V::add(acc, v);
    }
    layernorm_inplace(o, cols, gamma, beta, eps, V::hsum(acc));
  }
}

template <engine::Activation A>
inline V::T activate(V::T v) {
  if constexpr (A == engine::Activation::kGeluErf) return vgelu_erf(v);
  if constexpr (A == engine::Activation::kGeluTanh) return vgelu_tanh(v);
  if constexpr (A == engine::Activation::kRelu) return V::max(v, V::zero());
  if constexpr (A == engine::Activation::kTanh) return vtanh(v);
  return v;
}

template <engine::Activation A>
inline void bias_activation_t(float* x, int64_t ld, int64_t rows, int64_t cols, const float* bias) {
  const int64_t full = cols / kW * kW;
  const int tail = static_cast<int>(cols - full);
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x + r * ld;
    for (int64_t c = 0; c < full; c += kW) {
      V::T v = V::load(xr + c);
      if (bias) v = V::add(v, V::load(bias + c));
      V::store(xr + c, activate<A>(v));
    }
    if (tail) {
      V::T v = V::load_n(xr + full, tail);
      if (bias) v = V::add(v, V::load_n(bias + full, tail));
      V::store_n(xr + full, activate<A>(v), tail);
    }
  }
}

inline void k_bias_activation(float* x, int64_t ld, int64_t rows, int64_t cols, const float* bias,
                              engine::Activation act) {
  using engine::Activation;
  switch (act) {
    case Activation::kIdentity: return bias_activation_t<Activation::kIdentity>(x, ld, rows, cols, bias);
    case Activation::kGeluErf: return bias_activation_t<Activation::kGeluErf>(x, ld, rows, cols, bias);
    case Activation::kGeluTanh: return bias_activation_t<Activation::kGeluTanh>(x, ld, rows, cols, bias);
    case Activation::kRelu: return bias_activation_t<Activation::kRelu>(x, ld, rows, cols, bias);
    case Activation::kTanh: return bias_activation_t<Activation::kTanh>(x, ld, rows, cols, bias);
  }
}

// Softmax of one row of n values in place.
inline void softmax_row(float* x, int64_t n) {
  const int64_t full = n / kW * kW;
  const int tail = static_cast<int>(n - full);
  V::T m = V::set1(-__builtin_inff());
  for (int64_t c = 0; c < full; c += kW) m = V::max(m, V::load(x + c));
  if (tail) m = V::max(m, V::load_n(x + full, tail, -__builtin_inff()));
  const V::T vmax = V::set1(V::hmax(m));
  V::T acc = V::zero();
  for (int64_t c = 0; c < full; c += kW) {
    V::T e = vexp(V::sub(V::load(x + c), vmax));
    V::store(x + c, e);
    acc = V::add(acc, e);
  }
  if (tail) {
    V::T e = vexp(V::sub(V::load_n(x + full, tail), vmax));
    V::store_n(x + full, e, tail);
    acc = V::add(acc, V::load_n(x + full, tail));  // only the valid lanes
  }
  const V::T inv = V::set1(1.f / V::hsum(acc));
  for (int64_t c = 0; c < full; c += kW) V::store(x + c, V::mul(V::load(x + c), inv));
  if (tail) V::store_n(x + full, V::mul(V::load_n(x + full, tail), inv), tail);
}

inline void k_softmax(float* x, int64_t ld, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) softmax_row(x + r * ld, cols);
}

inline void k_sigmoid(float* x, int64_t ld, int64_t rows, int64_t cols) {
  const int64_t full = cols / kW * kW;
  const int tail = static_cast<int>(cols - full);
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x + r * ld;
    for (int64_t c = 0; c < full; c += kW) V::store(xr + c, vsigmoid(V::load(xr + c)));
    if (tail) V::store_n(xr + full, vsigmoid(V::load_n(xr + full, tail)), tail);
  }
}

inline void k_mean_rows(const float* x, int64_t ld, int64_t rows, int64_t cols, float* out) {
  const int64_t full = cols / kW * kW;
  const int tail = static_cast<int>(cols - full);
  const V::T inv = V::set1(1.f / static_cast<float>(rows));
  for (int64_t c = 0; c < full; c += kW) {
    V::T acc = V::zero();
    for (int64_t r = 0; r < rows; ++r) acc = V::add(acc, V::load(x + r * ld + c));
    V::store(out + c, V::mul(acc, inv));
  }
  if (tail) {
    V::T acc = V::zero();
    for (int64_t r = 0; r < rows; ++r) acc = V::add(acc, V::load_n(x + r * ld + full, tail));
    V::store_n(out + full, V::mul(acc, inv), tail);
  }
}

// Scores for one query against all keys come from kᵀ laid out [head_dim][lp]
// so that W keys are scored per FMA with no horizontal sums; the weighted sum
// of V rows is accumulated W channels at a time.
inline void k_attention_head(const float* q, const float* k, const float* v, int64_t ld,
                             int64_t len, int64_t num_queries, int64_t head_dim, float scale,
                             float* out, int64_t ld_out, float* scratch) {
  const int64_t lp = (len + kW - 1) / kW * kW;
  float* kt = scratch;
  float* s = scratch + lp * head_dim;
  for (int64_t j = 0; j < len; ++j) {
    const float* kj = k + j * ld;
    for (int64_t c = 0; c < head_dim; ++c) kt[c * lp + j] = kj[c];
  }
  for (int64_t c = 0; c < head_dim; ++c)
    for (int64_t j = len; j < lp; ++j) kt[c * lp + j] = 0.f;

  const int64_t dfull = head_dim / kW * kW;
  const int dtail = static_cast<int>(head_dim - dfull);
  const int stail = static_cast<int>(len % kW);
  const V::T vscale = V::set1(scale);
  for (int64_t i = 0; i < num_queries; ++i) {
    const float* qi = q + i * ld;
    // Scores, four key blocks per pass to reuse each broadcast of q.
    int64_t jb = 0;
    for (; jb + 4 * kW <= lp; jb += 4 * kW) {
      V::T a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
      for (int64_t c = 0; c < head_dim; ++c) {
        const V::T qc = V::set1(qi[c]);
        const float* row = kt + c * lp + jb;
        a0 = V::fmadd(qc, V::load(row), a0);
        a1 = V::fmadd(qc, V::load(row + kW), a1);
        a2 = V::fmadd(qc, V::load(row + 2 * kW), a2);
        a3 = V::fmadd(qc, V::load(row + 3 * kW), a3);
      }
      V::store(s + jb, V::mul(a0, vscale));
      V::store(s + jb + kW, V::mul(a1, vscale));
      V::store(s + jb + 2 * kW, V::mul(a2, vscale));
      V::store(s + jb + 3 * kW, V::mul(a3, vscale));
    }
    for (; jb < lp; jb += kW) {
      V::T a0 = V::zero();
      for (int64_t c = 0; c < head_dim; ++c) a0 = V::fmadd(V::set1(qi[c]), V::load(kt + c * lp + jb), a0);
      V::store(s + jb, V::mul(a0, vscale));
    }
    // Softmax over the len valid scores (lanes past len are ignored).
    const int64_t sfull = len - stail;
    V::T m = V::set1(-__builtin_inff());
    for (int64_t j = 0; j < sfull; j += kW) m = V::max(m, V::load(s + j));
    if (stail) m = V::max(m, V::load_n(s + sfull, stail, -__builtin_inff()));
    const V::T vmax = V::set1(V::hmax(m));
    V::T acc = V::zero();
    for (int64_t j = 0; j < sfull; j += kW) {
      V::T e = vexp(V::sub(V::load(s + j), vmax));
      V::store(s + j, e);
      acc = V::add(acc, e);
    }
    if (stail) {
      V::T e = vexp(V::sub(V::load_n(s + sfull, stail), vmax));
      V::store_n(s + sfull, e, stail);
      acc = V::add(acc, V::load_n(s + sfull, stail));
    }
    const V::T inv = V::set1(1.f / V::hsum(acc));
    // out_i = (Σ_j e_j v_j) / Σ e_j
    float* oi = out + i * ld_out;
    int64_t c = 0;
    for (; c + 4 * kW <= dfull; c += 4 * kW) {
      V::T o0 = V::zero(), o1 = V::zero(), o2 = V::zero(), o3 = V::zero();
      for (int64_t j = 0; j < len; ++j) {
        const V::T p = V::set1(s[j]);
        const float* vj = v + j * ld + c;
        o0 = V::fmadd(p, V::load(vj), o0);
        o1 = V::fmadd(p, V::load(vj + kW), o1);
        o2 = V::fmadd(p, V::load(vj + 2 * kW), o2);
        o3 = V::fmadd(p, V::load(vj + 3 * kW), o3);
      }
      V::store(oi + c, V::mul(o0, inv));
      V::store(oi + c + kW, V::mul(o1, inv));
      V::store(oi + c + 2 * kW, V::mul(o2, inv));
      V::store(oi + c + 3 * kW, V::mul(o3, inv));
    }
    for (; c < dfull; c += kW) {
      V::T o0 = V::zero();
      for (int64_t j = 0; j < len; ++j) o0 = V::fmadd(V::set1(s[j]), V::load(v + j * ld + c), o0);
      V::store(oi + c, V::mul(o0, inv));
    }
    if (dtail) {
      V::T o0 = V::zero();
      for (int64_t j = 0; j < len; ++j)
        o0 = V::fmadd(V::set1(s[j]), V::load_n(v + j * ld + dfull, dtail), o0);
      V::store_n(oi + dfull, V::mul(o0, inv), dtail);
    }
  }
}

inline constexpr KernelTable make_table(const char* name) {
  return KernelTable{name,           k_embedding_layernorm, k_add_layernorm, k_bias_activation,
                     k_softmax,      k_sigmoid,             k_mean_rows,     k_attention_head};
}
