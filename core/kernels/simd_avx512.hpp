#pragma once
// The AVX512 vector type V that the *_simd.inl kernels are written over (core's
// elementwise kernels, quant's fake-quant kernels). Include it only from a file compiled
// with -mavx512f -mavx512dq -mavx512bw -mavx512vl: V sits in an anonymous namespace on
// purpose, so each such file has its own copy and no inline function compiled with these
// flags can be chosen by the linker for baseline code.
#include <immintrin.h>

namespace intrain::kernels {
namespace {
struct V {
  using reg = __m512;
  using mask = __mmask16;
  static constexpr int W = 16;
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  static reg set1(float v) { return _mm512_set1_ps(v); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm512_div_ps(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  static reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
  static reg sqrt(reg a) { return _mm512_sqrt_ps(a); }
  static reg round_nearest(reg a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static reg pow2i(reg n) {
    __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_castsi512_ps(bits);
  }
  static void exponent_and_mantissa(reg x, reg& e, reg& m) {
    __m512i bits = _mm512_castps_si512(x);
    __m512i biased = _mm512_srli_epi32(bits, 23);
    e = _mm512_cvtepi32_ps(_mm512_sub_epi32(biased, _mm512_set1_epi32(126)));
    __m512i mant = _mm512_or_si512(_mm512_and_si512(bits, _mm512_set1_epi32(0x007fffff)),
                                   _mm512_set1_epi32(0x3f000000));
    m = _mm512_castsi512_ps(mant);
  }
  static mask lt(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static mask le(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
  static mask gt(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static mask is_nan(reg a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
  static mask mask_or(mask a, mask b) { return static_cast<mask>(a | b); }
  static mask mask_and(mask a, mask b) { return static_cast<mask>(a & b); }
  static reg select(mask m, reg if_false, reg if_true) { return _mm512_mask_blend_ps(m, if_false, if_true); }
  static bool any(mask m) { return m != 0; }
  // Not _mm512_reduce_add_ps: GCC 12 inlines its _mm512_undefined_* operand into a false
  // "used uninitialized" warning (bug 105593), as does its 512-to-256 cast; the zero-masked
  // extracts have no such operand.
  static float reduce_add(reg v) {
    const __m256 h = _mm256_add_ps(_mm512_maskz_extractf32x8_ps(0xFF, v, 0), _mm512_maskz_extractf32x8_ps(0xFF, v, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};
}  // namespace
}  // namespace intrain::kernels
