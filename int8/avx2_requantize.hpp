#pragma once
// The AVX2 int8 kernels' shared requantization (gemm_avx2.cpp, kernels_avx2.cpp). Include it
// only from files compiled with -mavx2: the intrinsics need it, and an inline function
// compiled with those flags must not be the copy the linker keeps for baseline code, so it
// lives in an anonymous namespace (each file its own copy).
#include <immintrin.h>

#include <cstdint>

namespace intrain::int8 {
namespace {

// requantize() on 8 lanes with per-lane multipliers and right shifts (0..30, multiplier > 0),
// as the AVX-512 version: (a·b + 2^30) >> 31 from 64-bit products (a logical shift gives the
// same low 32 bits), then the rounding right shift.
inline __m256i requantize8(__m256i x, __m256i m, __m256i shift, __m256i zp, __m256i lo, __m256i hi) {
  const __m256i round = _mm256_set1_epi64x(int64_t{1} << 30);
  const __m256i even = _mm256_srli_epi64(_mm256_add_epi64(_mm256_mul_epi32(x, m), round), 31);
  const __m256i odd = _mm256_srli_epi64(
      _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(m, 32)), round), 31);
  const __m256i high = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, shift), one);
  const __m256i negative = _mm256_srli_epi32(high, 31);  // 1 for negative lanes
  const __m256i threshold = _mm256_add_epi32(_mm256_srai_epi32(mask, 1), negative);
  const __m256i up = _mm256_cmpgt_epi32(_mm256_and_si256(high, mask), threshold);  // −1 where rounding up
  const __m256i v = _mm256_add_epi32(_mm256_sub_epi32(_mm256_srav_epi32(high, shift), up), zp);
  return _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
}

}  // namespace
}  // namespace intrain::int8
