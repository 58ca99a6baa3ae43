// SIMD vector types for the fused CPU kernels: one struct per instruction set
// with the same static interface, so that ops_impl.h is written once and
// compiled once per ISA (ops_avx512.cpp, ops_avx2.cpp, ops_scalar.cpp).
//
// Include only from an ISA translation unit, inside that unit's own namespace
// (see ops_impl.h): the same inline functions compiled with different -m flags
// must never meet at link time (ODR), or the linker may hand AVX-512 code to a
// machine without it.
//
// Math (exp, erf, tanh) is polynomial: Cephes-style exp/tanh (~2 ulp) and
// Abramowitz–Stegun 7.1.26 erf (|error| < 1.5e-7), the same approximation
// PyTorch's vectorised erf uses. The unit tests bound each against libm.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(SLUICE_ISA_AVX512) || defined(SLUICE_ISA_AVX2)
#include <immintrin.h>
#endif

#if defined(SLUICE_ISA_AVX512)

struct Vec {
  using T = __m512;
  static constexpr int kWidth = 16;
  static T zero() { return _mm512_setzero_ps(); }
  static T set1(float x) { return _mm512_set1_ps(x); }
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static __mmask16 tail(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  // Loads the first n (< kWidth) lanes, the rest are `fill`.
  static T load_n(const float* p, int n, float fill = 0.f) {
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), tail(n), p);
  }
  static void store_n(float* p, T v, int n) { _mm512_mask_storeu_ps(p, tail(n), v); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static T sub(T a, T b) { return _mm512_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static T div(T a, T b) { return _mm512_div_ps(a, b); }
  static T fmadd(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }    // a*b + c
  static T fnmadd(T a, T b, T c) { return _mm512_fnmadd_ps(a, b, c); }  // c - a*b
  static T max(T a, T b) { return _mm512_max_ps(a, b); }
  static T min(T a, T b) { return _mm512_min_ps(a, b); }
  static T abs(T a) { return _mm512_abs_ps(a); }
  static T round(T a) {
    return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  // 2^n for integral n in [-126, 127].
  static T pow2(T n) {
    __m512i i = _mm512_cvtps_epi32(n);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(i, _mm512_set1_epi32(127)), 23));
  }
  // a < b ? x : y, lane-wise.
  static T select_lt(T a, T b, T x, T y) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), y, x);
  }
  // |mag| with the sign of `sign`.
  static T copysign(T mag, T sign) {
    const __m512i m = _mm512_set1_epi32(0x7fffffff);
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(
        m, _mm512_castps_si512(mag), _mm512_castps_si512(sign), 0xca));  // m ? mag : sign
  }
  static float hsum(T v) { return _mm512_reduce_add_ps(v); }
  static float hmax(T v) { return _mm512_reduce_max_ps(v); }
  // Bit i set where a[i] > b[i] (false for NaN).
  static uint32_t gt_bits(T a, T b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
};

#elif defined(SLUICE_ISA_AVX2)

struct Vec {
  using T = __m256;
  static constexpr int kWidth = 8;
  static T zero() { return _mm256_setzero_ps(); }
  static T set1(float x) { return _mm256_set1_ps(x); }
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static __m256i tail(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static T load_n(const float* p, int n, float fill = 0.f) {
    __m256i m = tail(n);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
  }
  static void store_n(float* p, T v, int n) { _mm256_maskstore_ps(p, tail(n), v); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static T div(T a, T b) { return _mm256_div_ps(a, b); }
  static T fmadd(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T fnmadd(T a, T b, T c) { return _mm256_fnmadd_ps(a, b, c); }
  static T max(T a, T b) { return _mm256_max_ps(a, b); }
  static T min(T a, T b) { return _mm256_min_ps(a, b); }
  static T abs(T a) { return _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff))); }
  static T round(T a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static T pow2(T n) {
    __m256i i = _mm256_cvtps_epi32(n);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(i, _mm256_set1_epi32(127)), 23));
  }
  static T select_lt(T a, T b, T x, T y) {
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
  }
  static T copysign(T mag, T sign) {
    const __m256 m = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    return _mm256_or_ps(_mm256_and_ps(m, mag), _mm256_andnot_ps(m, sign));
  }
  static float hsum(T v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hmax(T v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static uint32_t gt_bits(T a, T b) {
    return static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_GT_OQ)));
  }
};

#else  // portable scalar fallback: one lane

struct Vec {
  using T = float;
  static constexpr int kWidth = 1;
  static T zero() { return 0.f; }
  static T set1(float x) { return x; }
  static T load(const float* p) { return *p; }
  static void store(float* p, T v) { *p = v; }
  static T load_n(const float*, int, float fill = 0.f) { return fill; }  // n is always 0
  static void store_n(float*, T, int) {}
  static T add(T a, T b) { return a + b; }
  static T sub(T a, T b) { return a - b; }
  static T mul(T a, T b) { return a * b; }
  static T div(T a, T b) { return a / b; }
  static T fmadd(T a, T b, T c) { return __builtin_fmaf(a, b, c); }
  static T fnmadd(T a, T b, T c) { return __builtin_fmaf(-a, b, c); }
  static T max(T a, T b) { return a > b ? a : b; }
  static T min(T a, T b) { return a < b ? a : b; }
  static T abs(T a) { return __builtin_fabsf(a); }
  static T round(T a) { return __builtin_nearbyintf(a); }
  static T pow2(T n) {
    int32_t i = (static_cast<int32_t>(n) + 127) << 23;
    float f;
    std::memcpy(&f, &i, sizeof f);
    return f;
  }
  static T select_lt(T a, T b, T x, T y) { return a < b ? x : y; }
  static T copysign(T mag, T sign) { return __builtin_copysignf(mag, sign); }
  static float hsum(T v) { return v; }
  static float hmax(T v) { return v; }
  static uint32_t gt_bits(T a, T b) { return a > b ? 1u : 0u; }
};

#endif

// ---- math on top of the primitives (same code for every ISA) ----

// e^x. Inputs below -87.3 flush to 0, above 88.7 saturate near FLT_MAX.
inline Vec::T vexp(Vec::T x) {
  using V = Vec;
  x = V::min(V::max(x, V::set1(-87.3365f)), V::set1(88.7228f));
  V::T n = V::round(V::mul(x, V::set1(1.44269504088896341f)));
  // Cody–Waite: r = x - n*ln2 in two parts for accuracy.
  V::T r = V::fnmadd(n, V::set1(0.693359375f), x);
  r = V::fnmadd(n, V::set1(-2.12194440e-4f), r);
  V::T p = V::set1(1.9875691500e-4f);
  p = V::fmadd(p, r, V::set1(1.3981999507e-3f));
  p = V::fmadd(p, r, V::set1(8.3334519073e-3f));
  p = V::fmadd(p, r, V::set1(4.1665795894e-2f));
  p = V::fmadd(p, r, V::set1(1.6666665459e-1f));
  p = V::fmadd(p, r, V::set1(5.0000001201e-1f));
  V::T r2 = V::mul(r, r);
  V::T y = V::add(V::fmadd(p, r2, r), V::set1(1.f));
  // n can reach 128 at the upper clamp; split the scaling so 2^n never overflows.
  V::T n1 = V::min(n, V::set1(127.f));
  return V::mul(V::mul(y, V::pow2(n1)), V::pow2(V::sub(n, n1)));
}

// erf(x), Abramowitz–Stegun 7.1.26: |error| < 1.5e-7.
inline Vec::T verf(Vec::T x) {
  using V = Vec;
  V::T a = V::abs(x);
  V::T t = V::div(V::set1(1.f), V::fmadd(V::set1(0.3275911f), a, V::set1(1.f)));
  V::T p = V::set1(1.061405429f);
  p = V::fmadd(p, t, V::set1(-1.453152027f));
  p = V::fmadd(p, t, V::set1(1.421413741f));
  p = V::fmadd(p, t, V::set1(-0.284496736f));
  p = V::fmadd(p, t, V::set1(0.254829592f));
  p = V::mul(p, t);
  V::T e = vexp(V::mul(V::sub(V::zero(), a), a));
  V::T y = V::fnmadd(p, e, V::set1(1.f));
  return V::copysign(y, x);
}

// tanh(x): odd polynomial below |x| = 0.625 (no cancellation), else 1 - 2/(e^2|x| + 1).
inline Vec::T vtanh(Vec::T x) {
  using V = Vec;
  V::T a = V::abs(x);
  V::T z = V::mul(x, x);
  V::T p = V::set1(-5.70498872745e-3f);
  p = V::fmadd(p, z, V::set1(2.06390887954e-2f));
  p = V::fmadd(p, z, V::set1(-5.37397155531e-2f));
  p = V::fmadd(p, z, V::set1(1.33314422036e-1f));
  p = V::fmadd(p, z, V::set1(-3.33332819422e-1f));
  V::T small = V::fmadd(V::mul(p, z), x, x);
  V::T e = vexp(V::mul(V::set1(2.f), a));
  V::T big = V::sub(V::set1(1.f), V::div(V::set1(2.f), V::add(e, V::set1(1.f))));
  big = V::copysign(big, x);
  return V::select_lt(a, V::set1(0.625f), small, big);
}

inline Vec::T vsigmoid(Vec::T x) {
  using V = Vec;
  return V::div(V::set1(1.f), V::add(V::set1(1.f), vexp(V::sub(V::zero(), x))));
}

// GELU, exact (erf) form as Hugging Face's "gelu": x/2 * (1 + erf(x/sqrt 2)).
inline Vec::T vgelu_erf(Vec::T x) {
  using V = Vec;
  V::T h = V::mul(x, V::set1(0.5f));
  return V::fmadd(h, verf(V::mul(x, V::set1(0.70710678118654752f))), h);
}

// GELU, tanh form ("gelu_new", "gelu_pytorch_tanh").
inline Vec::T vgelu_tanh(Vec::T x) {
  using V = Vec;
  V::T x3 = V::mul(V::mul(x, x), x);
  V::T inner = V::mul(V::set1(0.7978845608028654f), V::fmadd(V::set1(0.044715f), x3, x));
  V::T h = V::mul(x, V::set1(0.5f));
  return V::fmadd(h, vtanh(inner), h);
}
