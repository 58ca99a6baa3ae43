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

inline void k_add_layernorm(const float* x, int64_t ld_x, const float* x_scale, const float* bias,
                            const float* residual, int64_t ld_res, const float* gamma,
                            const float* beta, float eps, int64_t rows, int64_t cols, float* out,
                            int64_t ld_out) {
  const int64_t full = cols / kW * kW;
  const int tail = static_cast<int>(cols - full);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * ld_x;
    const float* rr = residual ? residual + r * ld_res : nullptr;
    const V::T s = V::set1(x_scale ? x_scale[r] : 1.f);
    float* o = out + r * ld_out;
    V::T acc = V::zero();
    for (int64_t c = 0; c < full; c += kW) {
      V::T v = V::load(xr + c);
      if (x_scale) v = V::mul(v, s);
      if (bias) v = V::add(v, V::load(bias + c));
      if (rr) v = V::add(v, V::load(rr + c));
      V::store(o + c, v);
      acc = V::add(acc, v);
    }
    if (tail) {
      V::T v = V::load_n(xr + full, tail);
      if (x_scale) v = V::mul(v, s);
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
inline void bias_activation_t(float* x, int64_t ld, int64_t rows, int64_t cols, const float* bias,
                              const float* row_scale) {
  const int64_t full = cols / kW * kW;
  const int tail = static_cast<int>(cols - full);
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x + r * ld;
    const V::T s = V::set1(row_scale ? row_scale[r] : 1.f);
    for (int64_t c = 0; c < full; c += kW) {
      V::T v = V::load(xr + c);
      if (row_scale) v = V::mul(v, s);
      if (bias) v = V::add(v, V::load(bias + c));
      V::store(xr + c, activate<A>(v));
    }
    if (tail) {
      V::T v = V::load_n(xr + full, tail);
      if (row_scale) v = V::mul(v, s);
      if (bias) v = V::add(v, V::load_n(bias + full, tail));
      V::store_n(xr + full, activate<A>(v), tail);
    }
  }
}

inline void k_bias_activation(float* x, int64_t ld, int64_t rows, int64_t cols, const float* bias,
                              const float* row_scale, engine::Activation act) {
  using engine::Activation;
  switch (act) {
    case Activation::kIdentity:
      return bias_activation_t<Activation::kIdentity>(x, ld, rows, cols, bias, row_scale);
    case Activation::kGeluErf:
      return bias_activation_t<Activation::kGeluErf>(x, ld, rows, cols, bias, row_scale);
    case Activation::kGeluTanh:
      return bias_activation_t<Activation::kGeluTanh>(x, ld, rows, cols, bias, row_scale);
    case Activation::kRelu:
      return bias_activation_t<Activation::kRelu>(x, ld, rows, cols, bias, row_scale);
    case Activation::kTanh:
      return bias_activation_t<Activation::kTanh>(x, ld, rows, cols, bias, row_scale);
  }
}

// kW values, already rounded to integers in [-127, 127], stored as int8.
inline void store_s8(int8_t* p, V::T v) {
#if defined(SLUICE_ISA_AVX512)
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(v)));
#elif defined(SLUICE_ISA_AVX2)
  const __m256i i = _mm256_cvtps_epi32(v);
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_packs_epi16(w, w));
#else
  *p = static_cast<int8_t>(static_cast<int32_t>(v));
#endif
}

// Symmetric per-row quantization: scales[r] = max|x[r]| / 127 (1 for an
// all-zero row), q[r][c] = round-to-nearest-even(x[r][c] / scales[r]).
// A row holding a NaN or an infinity gets a NaN scale, so that the GEMM's
// row comes out NaN as it would in fp32 (max() drops NaN lanes, and int8
// has no NaN: without this a NaN activation would turn into finite logits
// that the infer stage's non-finite check cannot see).
inline void k_quantize_rows_s8(const float* x, int64_t ld, int64_t rows, int64_t cols, int8_t* q,
                               int64_t ld_q, float* scales) {
  const int64_t full = cols / kW * kW;
  const int tail = static_cast<int>(cols - full);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * ld;
    int8_t* qr = q + r * ld_q;
    V::T m = V::zero();
    V::T z = V::zero();  // sum of x * 0: NaN once any x is NaN or infinite
    for (int64_t c = 0; c < full; c += kW) {
      const V::T v = V::load(xr + c);
      m = V::max(m, V::abs(v));
      z = V::add(z, V::mul(v, V::zero()));
    }
    if (tail) {
      const V::T v = V::load_n(xr + full, tail);
      m = V::max(m, V::abs(v));
      z = V::add(z, V::mul(v, V::zero()));
    }
    alignas(64) float zs[kW];
    V::store(zs, z);
    bool finite = true;
    for (int i = 0; i < kW; ++i) finite &= zs[i] == 0.f;
    const float amax = V::hmax(m);
    const float inv = amax > 0.f && finite ? 127.f / amax : 0.f;
    scales[r] = !finite ? __builtin_nanf("") : amax > 0.f ? amax / 127.f : 1.f;
    const V::T vinv = V::set1(inv);
    for (int64_t c = 0; c < full; c += kW)
      store_s8(qr + c, V::round(V::mul(V::load(xr + c), vinv)));
    for (int64_t c = full; c < cols; ++c)
      qr[c] = static_cast<int8_t>(static_cast<int32_t>(__builtin_nearbyintf(xr[c] * inv)));
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

// Scores come from kᵀ laid out [head_dim][lp] so that W keys are scored per
// FMA with no horizontal sums. Queries go NQ at a time (4, then 1 for the
// rest): each loaded vector of kᵀ or V then feeds NQ FMAs.

// Softmax numerators of one row of `len` scores in place; returns 1 / sum.
inline float softmax_numerators(float* s, int64_t len) {
  const int stail = static_cast<int>(len % kW);
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
  return 1.f / V::hsum(acc);
}

template <int NQ>
inline void attention_queries(const float* q, const float* kt, const float* v, int64_t ld,
                              int64_t len, int64_t lp, int64_t head_dim, float scale, float* out,
                              int64_t ld_out, float* s) {
  const V::T vscale = V::set1(scale);
  // Scores: s[r][j] = scale · q_r · k_j
  for (int64_t jb = 0; jb < lp; jb += kW) {
    V::T a[NQ];
    for (int r = 0; r < NQ; ++r) a[r] = V::zero();
    for (int64_t c = 0; c < head_dim; ++c) {
      const V::T kv = V::load(kt + c * lp + jb);
      for (int r = 0; r < NQ; ++r) a[r] = V::fmadd(V::set1(q[r * ld + c]), kv, a[r]);
    }
    for (int r = 0; r < NQ; ++r) V::store(s + r * lp + jb, V::mul(a[r], vscale));
  }
  float inv[NQ];
  for (int r = 0; r < NQ; ++r) inv[r] = softmax_numerators(s + r * lp, len);
  // out_r = (Σ_j e_rj v_j) / Σ_j e_rj, up to 4 vectors of channels per pass.
  constexpr int kBlocks = NQ == 1 ? 4 : 2;
  for (int64_t c0 = 0; c0 < head_dim; c0 += kBlocks * kW) {
    const int64_t left = head_dim - c0;
    const int blocks = static_cast<int>(left >= kBlocks * kW ? kBlocks : (left + kW - 1) / kW);
    const int last =
        static_cast<int>(left - static_cast<int64_t>(blocks - 1) * kW);  // lanes in the last block
    V::T o[NQ][kBlocks];
    for (int r = 0; r < NQ; ++r)
      for (int b = 0; b < kBlocks; ++b) o[r][b] = V::zero();
    for (int64_t j = 0; j < len; ++j) {
      const float* vj = v + j * ld + c0;
      V::T p[NQ];
      for (int r = 0; r < NQ; ++r) p[r] = V::set1(s[r * lp + j]);
      for (int b = 0; b < kBlocks; ++b) {
        if (b >= blocks) break;
        const V::T vv =
            (b == blocks - 1 && last < kW) ? V::load_n(vj + b * kW, last) : V::load(vj + b * kW);
        for (int r = 0; r < NQ; ++r) o[r][b] = V::fmadd(p[r], vv, o[r][b]);
      }
    }
    for (int r = 0; r < NQ; ++r) {
      const V::T vi = V::set1(inv[r]);
      for (int b = 0; b < blocks; ++b) {
        float* dst = out + r * ld_out + c0 + b * kW;
        if (b == blocks - 1 && last < kW) {
          V::store_n(dst, V::mul(o[r][b], vi), last);
        } else {
          V::store(dst, V::mul(o[r][b], vi));
        }
      }
    }
  }
}

inline void k_attention_head(const float* q, const float* k, const float* v, int64_t ld,
                             int64_t len, int64_t num_queries, int64_t head_dim, float scale,
                             float* out, int64_t ld_out, float* scratch) {
  const int64_t lp = (len + kW - 1) / kW * kW;
  float* kt = scratch;
  float* s = scratch + lp * head_dim;  // 4 rows of lp scores
  for (int64_t j = 0; j < len; ++j) {
    const float* kj = k + j * ld;
    for (int64_t c = 0; c < head_dim; ++c) kt[c * lp + j] = kj[c];
  }
  for (int64_t c = 0; c < head_dim; ++c)
    for (int64_t j = len; j < lp; ++j) kt[c * lp + j] = 0.f;
  int64_t i = 0;
  for (; i + 4 <= num_queries; i += 4)
    attention_queries<4>(q + i * ld, kt, v, ld, len, lp, head_dim, scale, out + i * ld_out, ld_out,
                         s);
  for (; i < num_queries; ++i)
    attention_queries<1>(q + i * ld, kt, v, ld, len, lp, head_dim, scale, out + i * ld_out, ld_out,
                         s);
}

inline uint16_t bf16_round(float f) {
  uint32_t b;
  __builtin_memcpy(&b, &f, 4);
  return static_cast<uint16_t>((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

inline void k_to_bf16(const float* x, int64_t n, uint16_t* out) {
  int64_t i = 0;
#if defined(SLUICE_ISA_AVX512)
  const __m512i round = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1);
  for (; i + 16 <= n; i += 16) {
    __m512i b = _mm512_castps_si512(_mm512_loadu_ps(x + i));
    b = _mm512_add_epi32(b,
                         _mm512_add_epi32(round, _mm512_and_si512(_mm512_srli_epi32(b, 16), one)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        _mm512_cvtepi32_epi16(_mm512_srli_epi32(b, 16)));
  }
#endif
  for (; i < n; ++i) out[i] = bf16_round(x[i]);
}

// Running top-k of one row: entries [0, *count) sorted by score descending,
// ties by the lower item. Items arrive in increasing order (one call covers
// base..base+n-1, calls in increasing base), so an equal score never displaces
// an entry and the strict > below keeps the lower item. Only scores above
// -inf qualify (excluded items are -inf; NaN compares false). The scan skips
// whole vectors at or below the current k-th score: once the row's top-k
// fills, almost every vector is one compare.
inline void k_topk_merge_row(const float* x, int64_t n, int32_t base, int64_t k, float* ts,
                             int32_t* ti, int32_t* count) {
  int64_t c = *count;
  float thr = c == k ? ts[k - 1] : -__builtin_inff();
  auto insert = [&](float s, int32_t item) {
    int64_t pos = c < k ? c : k - 1;  // the slot that is free or falls out
    while (pos > 0 && ts[pos - 1] < s) {
      ts[pos] = ts[pos - 1];
      ti[pos] = ti[pos - 1];
      --pos;
    }
    ts[pos] = s;
    ti[pos] = item;
    if (c < k) ++c;
    thr = c == k ? ts[k - 1] : -__builtin_inff();
  };
  const int64_t full = n / kW * kW;
  for (int64_t i = 0; i < full; i += kW) {
    uint32_t bits = V::gt_bits(V::load(x + i), V::set1(thr));
    while (bits) {
      const int j = __builtin_ctz(bits);
      bits &= bits - 1;
      const float s = x[i + j];
      if (s > thr) insert(s, base + static_cast<int32_t>(i + j));  // thr may have risen
    }
  }
  for (int64_t i = full; i < n; ++i)
    if (x[i] > thr) insert(x[i], base + static_cast<int32_t>(i));
  *count = static_cast<int32_t>(c);
}

inline constexpr KernelTable make_table(const char* name) {
  return KernelTable{name,
                     k_embedding_layernorm,
                     k_add_layernorm,
                     k_bias_activation,
                     k_softmax,
                     k_sigmoid,
                     k_to_bf16,
                     k_mean_rows,
                     k_attention_head,
                     k_topk_merge_row,
                     k_quantize_rows_s8};
}
