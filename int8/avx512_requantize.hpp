#pragma once
// requantize() (requantize.hpp) on 16 int32 lanes, for the AVX-512 translation units only
// (gemm_vnni.cpp, gemm_amx.cpp): compiled with their flags, in an unnamed namespace so no
// other translation unit can pick these up.
#include <immintrin.h>

#include <cstdint>

#include "int8/kernels.hpp"

namespace intrain::int8 {
namespace {

// requantize() on 16 lanes with per-lane multipliers and right shifts (0..30, multiplier > 0),
// in 17 operations per vector once the per-lane constants are made:
//  - the rounding doubling high multiply is (a·b + 2^30) >> 31 for every a and b > 0, from
//    64-bit products of the even and the odd lanes. Only bits 62..31 of p = a·b + 2^30 are
//    kept: an even lane takes them as the low half of p >> 31 (logical or arithmetic alike),
//    an odd lane as the high half of p << 1, so no shift back is needed before the blend;
//  - the rounding right shift adds 1 when the remainder exceeds half the divisor (plus one
//    for negatives: half away from zero), i.e. when (high & mask) + (high >> 31) > mask / 2.
struct Requant16 {
  __m512i multiplier, odd_multiplier, shift, mask, half, zero_point, lo, hi;
};

// The odd lanes' multipliers moved to the even positions, as _mm512_mul_epi32 reads them. The
// zero-masking form: GCC 12 warns of the plain form's undefined pass-through operand when
// the multipliers are a broadcast (a false positive, GCC bug 105593).
[[gnu::always_inline]] inline __m512i odd_lanes_low(__m512i m) { return _mm512_maskz_srli_epi64(0xFF, m, 32); }

[[gnu::always_inline]] inline Requant16 make_requant16(__m512i m, __m512i shift, __m512i zp, __m512i lo, __m512i hi) {
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, shift), one);
  return {m, odd_lanes_low(m), shift, mask, _mm512_srai_epi32(mask, 1), zp, lo, hi};
}

// The rounding doubling high multiply, (x·m + 2^30) >> 31 on each lane; odd_multiplier is m >> 32.
[[gnu::always_inline]] inline __m512i rounding_doubling_high16(__m512i x, __m512i multiplier, __m512i odd_multiplier) {
  const __m512i round = _mm512_set1_epi64(int64_t{1} << 30);
  const __m512i even = _mm512_srli_epi64(_mm512_add_epi64(_mm512_mul_epi32(x, multiplier), round), 31);
  const __m512i odd =
      _mm512_slli_epi64(_mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), odd_multiplier), round), 1);
  return _mm512_mask_blend_epi32(0xAAAA, even, odd);
}

[[gnu::always_inline]] inline __m512i requantize16(__m512i x, const Requant16& k) {
  const __m512i high = rounding_doubling_high16(x, k.multiplier, k.odd_multiplier);
  const __m512i remainder = _mm512_add_epi32(_mm512_and_si512(high, k.mask), _mm512_srai_epi32(high, 31));
  const __mmask16 up = _mm512_cmpgt_epi32_mask(remainder, k.half);
  const __m512i shifted = _mm512_srav_epi32(high, k.shift);
  const __m512i v = _mm512_add_epi32(_mm512_mask_add_epi32(shifted, up, shifted, _mm512_set1_epi32(1)), k.zero_point);
  return _mm512_min_epi32(_mm512_max_epi32(v, k.lo), k.hi);
}

// requantize16 without the clamp, for sums known to lie within ±2^30 (the caller checks the
// bound): the rounding doubling high product h then satisfies |h| ≤ 2^30 (|h| < |x| + 1 as the
// multiplier is below 2^31), so the rounding right shift can be (h + 2^(s−1) + (h >> 31)) >> s
// for s > 0, and h for s = 0, without overflow: the same value as requantize16's remainder test
// (round half up, and away from zero below zero), in three operations instead of six. The
// caller clamps, e.g. by the saturation of packs_epi32 then packus_epi16 and a u8 min/max.
struct SmallRequant16 {
  __m512i multiplier, odd_multiplier, shift, half_up, zero_point;  // half_up: 2^(s−1), 0 where s = 0
  __mmask16 rounds;                                                // lanes with s > 0
};

[[gnu::always_inline]] inline SmallRequant16 make_small_requant16(__m512i m, __m512i shift, __m512i zp) {
  const __mmask16 rounds = _mm512_test_epi32_mask(shift, shift);
  const __m512i half_up = _mm512_maskz_sllv_epi32(rounds, _mm512_set1_epi32(1), _mm512_sub_epi32(shift, _mm512_set1_epi32(1)));
  return {m, odd_lanes_low(m), shift, half_up, zp, rounds};
}

[[gnu::always_inline]] inline __m512i requantize16_small_unclamped(__m512i x, const SmallRequant16& k) {
  const __m512i high = rounding_doubling_high16(x, k.multiplier, k.odd_multiplier);
  const __m512i nudge = _mm512_mask_add_epi32(k.half_up, k.rounds, k.half_up, _mm512_srai_epi32(high, 31));
  return _mm512_add_epi32(_mm512_srav_epi32(_mm512_add_epi32(high, nudge), k.shift), k.zero_point);
}

// The same with the constants made on the spot (loop-invariant parts hoisted by the compiler).
// Always inlined: GCC kept an out-of-line copy taking the constants through memory (3% of
// ResNet-18's int8 time).
[[gnu::always_inline]] inline __m512i requantize16(__m512i x, __m512i m, __m512i shift, __m512i zp, __m512i lo,
                                                   __m512i hi) {
  return requantize16(x, make_requant16(m, shift, zp, lo, hi));
}

inline __mmask16 lanes_mask(int64_t lanes) { return static_cast<__mmask16>(lanes >= 16 ? 0xFFFF : (1u << lanes) - 1); }

// The epilogue of a GEMM's 16 output channels [oc, oc + 16) (those past `out` masked off),
// shared by the VNNI and AMX kernels: each row's int32 sums plus the bias, written as
// requantized codes or as raw accumulators, as the GemmOutput asks.
class BlockEpilogue {
 public:
  BlockEpilogue(const GemmOutput& output, const int32_t* bias, int64_t out, int64_t oc)
      : output_(output), oc_(oc), mask_(lanes_mask(out - oc)), bias_(_mm512_maskz_loadu_epi32(mask_, bias + oc)) {
    if (!output.codes) return;
    const ChannelRequant& rq = output.requant;
    requant_ = make_requant16(_mm512_maskz_loadu_epi32(mask_, rq.multiplier + oc),
                              _mm512_maskz_loadu_epi32(mask_, rq.shift + oc), _mm512_set1_epi32(rq.zero_point),
                              _mm512_set1_epi32(rq.lo), _mm512_set1_epi32(rq.hi));
  }

  [[gnu::always_inline]] void row(__m512i sums, int64_t row) const {
    const __m512i v = _mm512_add_epi32(sums, bias_);
    if (output_.codes)
      _mm_mask_storeu_epi8(output_.codes + row * output_.ld + oc_, mask_, _mm512_cvtepi32_epi8(requantize16(v, requant_)));
    else
      _mm512_mask_storeu_epi32(output_.acc + row * output_.ld + oc_, mask_, v);
  }

 private:
  const GemmOutput& output_;
  int64_t oc_;
  __mmask16 mask_;
  __m512i bias_;
  Requant16 requant_{};
};

}  // namespace
}  // namespace intrain::int8
