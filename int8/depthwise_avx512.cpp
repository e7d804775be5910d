// DEPTHWISE_HEADER
#include <immintrin.h>

#include <climits>
#include <cstdint>

#include "int8/avx512_requantize.hpp"
#include "int8/kernels.hpp"

namespace intrain::int8 {

namespace {

// One output pixel's channels [c0, c0 + 16·V) (the last vector masked to `channels`): the
// in-bounds taps' codes, widened to int32 and centred on the zero point, times the tap's
// int32 weights, then requantized. V is a template parameter so the sums stay in registers.
template <int V>
inline void depthwise_pixel(const uint8_t* x, int64_t width, int64_t channels, int64_t kernel, int64_t iy0,
                            int64_t ky0, int64_t ky1, int64_t ix0, int64_t kx0, int64_t kx1, int64_t c0, __m512i vzp,
                            const int32_t* weights, const int32_t* bias, const ChannelRequant& rq, __m512i out_zp,
                            __m512i lo, __m512i hi, uint8_t* y) {
  __mmask16 mask[V];
  __m512i sum[V];
  for (int v = 0; v < V; ++v) {
    mask[v] = lanes_mask(channels - c0 - 16 * v);
    sum[v] = _mm512_maskz_loadu_epi32(mask[v], bias + c0 + 16 * v);
  }
  for (int64_t ky = ky0; ky < ky1; ++ky)
    for (int64_t kx = kx0; kx < kx1; ++kx) {
      const uint8_t* px = x + ((iy0 + ky) * width + ix0 + kx) * channels + c0;
      const int32_t* w = weights + (ky * kernel + kx) * channels + c0;
      for (int v = 0; v < V; ++v) {
        const __m512i xv = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask[v], px + 16 * v)), vzp);
        sum[v] = _mm512_add_epi32(sum[v], _mm512_mullo_epi32(xv, _mm512_maskz_loadu_epi32(mask[v], w + 16 * v)));
      }
    }
  for (int v = 0; v < V; ++v) {
    const int64_t c = c0 + 16 * v;
    const __m512i r = requantize16(sum[v], _mm512_maskz_loadu_epi32(mask[v], rq.multiplier + c),
                                   _mm512_maskz_loadu_epi32(mask[v], rq.shift + c), out_zp, lo, hi);
    _mm_mask_storeu_epi8(y + c, mask[v], _mm512_cvtepi32_epi8(r));
  }
}

}  // namespace

void depthwise_nhwc_avx512(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t kernel,
                           int64_t stride, int64_t padding, int64_t out_w, int64_t oy_begin, int64_t oy_end,
                           int32_t zp, const int32_t* weights, const int32_t* bias, const ChannelRequant& rq,
                           uint8_t* out) {
  const __m512i vzp = _mm512_set1_epi32(zp);
  const __m512i out_zp = _mm512_set1_epi32(rq.zero_point), lo = _mm512_set1_epi32(rq.lo), hi = _mm512_set1_epi32(rq.hi);
  for (int64_t oy = oy_begin; oy < oy_end; ++oy) {
    const int64_t iy0 = oy * stride - padding;
    const int64_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = height - iy0 < kernel ? height - iy0 : kernel;
    for (int64_t ox = 0; ox < out_w; ++ox) {
      const int64_t ix0 = ox * stride - padding;
      const int64_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = width - ix0 < kernel ? width - ix0 : kernel;
      uint8_t* y = out + (oy * out_w + ox) * channels;
      for (int64_t c0 = 0; c0 < channels; c0 += 64) {
        const int64_t vectors = channels - c0 >= 64 ? 4 : (channels - c0 + 15) / 16;
#define INTRAIN_DEPTHWISE_PIXEL(V)                                                                                   \
  depthwise_pixel<V>(x, width, channels, kernel, iy0, ky0, ky1, ix0, kx0, kx1, c0, vzp, weights, bias, rq, out_zp, lo, \
                     hi, y)
        switch (vectors) {
          case 1: INTRAIN_DEPTHWISE_PIXEL(1); break;
          case 2: INTRAIN_DEPTHWISE_PIXEL(2); break;
          case 3: INTRAIN_DEPTHWISE_PIXEL(3); break;
          default: INTRAIN_DEPTHWISE_PIXEL(4); break;
        }
#undef INTRAIN_DEPTHWISE_PIXEL
      }
    }
  }
}

}  // namespace intrain::int8
