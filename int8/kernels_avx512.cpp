// AVX-512 int8 kernels besides the GEMM and the depthwise convolution: per-channel
// requantization, NHWC max pooling and residual additions, bit-identical to their references.
#include <immintrin.h>

#include <climits>
#include <cstdint>

#include "int8/avx512_requantize.hpp"
#include "int8/kernels.hpp"
#include "int8/pool_windows.hpp"

namespace intrain::int8 {

// IEEE division as the scalar code divides (a reciprocal would round differently), round to
// nearest even, the ±512 clamp (max_ps returns its second operand for NaN, as fmax does),
// then the zero point and the code range.
void quantize_input_avx512(const float* x, int64_t n, float scale, int32_t zero_point, uint8_t* out) {
  const __m512 s = _mm512_set1_ps(scale), lo = _mm512_set1_ps(-512.0f), hi = _mm512_set1_ps(512.0f);
  const __m512i zp = _mm512_set1_epi32(zero_point), zero = _mm512_setzero_si512(), top = _mm512_set1_epi32(255);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 mask = lanes_mask(n - i);
    const __m512 q = _mm512_roundscale_ps(_mm512_div_ps(_mm512_maskz_loadu_ps(mask, x + i), s),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512i v = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(q, lo), hi)), zp);
    _mm_mask_storeu_epi8(out + i, mask, _mm512_cvtepi32_epi8(_mm512_min_epi32(_mm512_max_epi32(v, zero), top)));
  }
}

void requantize_channels_avx512(const int32_t* acc, int64_t channels, const ChannelRequant& rq, uint8_t* out) {
  const __m512i zp = _mm512_set1_epi32(rq.zero_point), lo = _mm512_set1_epi32(rq.lo), hi = _mm512_set1_epi32(rq.hi);
  for (int64_t c = 0; c < channels; c += 16) {
    const __mmask16 mask = lanes_mask(channels - c);
    const __m512i v = requantize16(_mm512_maskz_loadu_epi32(mask, acc + c), _mm512_maskz_loadu_epi32(mask, rq.multiplier + c),
                                   _mm512_maskz_loadu_epi32(mask, rq.shift + c), zp, lo, hi);
    _mm_mask_storeu_epi8(out + c, mask, _mm512_cvtepi32_epi8(v));
  }
}

void max_pool_nhwc_avx512(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t kernel,
                          int64_t stride, int64_t padding, int64_t out_w, int64_t oy_begin, int64_t oy_end,
                          uint8_t* out) {
  for_each_pool_window(height, width, channels, kernel, stride, padding, out_w, oy_begin, oy_end, out,
                       [=](const PoolWindow& win, uint8_t* y) {
                         for (int64_t c0 = 0; c0 < channels; c0 += 64) {
                           const __mmask64 mask =
                               channels - c0 >= 64 ? ~__mmask64{0} : (__mmask64{1} << (channels - c0)) - 1;
                           __m512i best = _mm512_setzero_si512();
                           for (int64_t iy = win.ya; iy < win.yb; ++iy)
                             for (int64_t ix = win.xa; ix < win.xb; ++ix)
                               best = _mm512_max_epu8(
                                   best, _mm512_maskz_loadu_epi8(mask, x + (iy * width + ix) * channels + c0));
                           _mm512_mask_storeu_epi8(y + c0, mask, best);
                         }
                       });
}

// Every intermediate is small: (code − zp)·2^20 lies within ±2^28, each input rescaled by a
// multiplier of at most 1/2 stays there, and their sum within ±2^29, so all three steps take
// the cheaper exact rounding (avx512_requantize.hpp). 64 codes per step: packs and packus
// saturate as the clamp to [0, 255] would, then one vpermd puts the 64 bytes back in order.
void add_avx512(const uint8_t* a, const uint8_t* b, int64_t n, const AddParams& p, uint8_t* out) {
  const __m512i za = _mm512_set1_epi32(p.a_zero_point), zb = _mm512_set1_epi32(p.b_zero_point);
  const __m512i zero = _mm512_setzero_si512();
  auto requant = [&](int i, __m512i zp) {
    return make_small_requant16(_mm512_set1_epi32(p.multiplier[i]), _mm512_set1_epi32(p.shift[i]), zp);
  };
  const SmallRequant16 k[3] = {requant(0, zero), requant(1, zero), requant(2, _mm512_set1_epi32(p.zero_point))};
  const __m512i lo = _mm512_set1_epi8(static_cast<char>(p.lo)), hi = _mm512_set1_epi8(static_cast<char>(p.hi));
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  for (int64_t i = 0; i < n; i += 64) {
    const __mmask64 mask = n - i >= 64 ? ~__mmask64{0} : (__mmask64{1} << (n - i)) - 1;
    const __m512i va = _mm512_maskz_loadu_epi8(mask, a + i), vb = _mm512_maskz_loadu_epi8(mask, b + i);
    // One quarter of 16 codes per call; the quarter index must be an immediate of vextracti32x4,
    // so the four calls are written out rather than looped (clang at -O1 does not unroll).
    auto quarter = [&](__m128i qa, __m128i qb) {
      const __m512i xa = _mm512_slli_epi32(_mm512_sub_epi32(_mm512_cvtepu8_epi32(qa), za), 20);
      const __m512i xb = _mm512_slli_epi32(_mm512_sub_epi32(_mm512_cvtepu8_epi32(qb), zb), 20);
      return requantize16_small_unclamped(
          _mm512_add_epi32(requantize16_small_unclamped(xa, k[0]), requantize16_small_unclamped(xb, k[1])), k[2]);
    };
    const __m512i sum[4] = {quarter(_mm512_castsi512_si128(va), _mm512_castsi512_si128(vb)),
                            quarter(_mm512_extracti32x4_epi32(va, 1), _mm512_extracti32x4_epi32(vb, 1)),
                            quarter(_mm512_extracti32x4_epi32(va, 2), _mm512_extracti32x4_epi32(vb, 2)),
                            quarter(_mm512_extracti32x4_epi32(va, 3), _mm512_extracti32x4_epi32(vb, 3))};
    const __m512i packed = _mm512_packus_epi16(_mm512_packs_epi32(sum[0], sum[1]), _mm512_packs_epi32(sum[2], sum[3]));
    _mm512_mask_storeu_epi8(out + i, mask, _mm512_min_epu8(_mm512_max_epu8(_mm512_permutexvar_epi32(order, packed), lo), hi));
  }
}

}  // namespace intrain::int8
