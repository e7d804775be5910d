// The AVX-512 NHWC int8 depthwise convolution: a 3x3 interior path (strips of output
// pixels, one vpdpwssd per tap, the zero point folded into the bias) and a general path
// for other kernels and the image borders. Bit-identical to depthwise_nhwc_reference.
#include <immintrin.h>

#include <algorithm>
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

// Output pixels [ox_begin, ox_end) of row oy, any kernel, window bounds checked per pixel:
// the general path, and the borders of the 3x3 one.
void depthwise_pixels(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t kernel,
                      int64_t stride, int64_t padding, int64_t out_w, int64_t oy, int64_t ox_begin, int64_t ox_end,
                      int32_t zp, const int32_t* weights, const int32_t* bias, const ChannelRequant& rq,
                      uint8_t* out) {
  const __m512i vzp = _mm512_set1_epi32(zp);
  const __m512i out_zp = _mm512_set1_epi32(rq.zero_point), lo = _mm512_set1_epi32(rq.lo), hi = _mm512_set1_epi32(rq.hi);
  const int64_t iy0 = oy * stride - padding;
  const int64_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = height - iy0 < kernel ? height - iy0 : kernel;
  for (int64_t ox = ox_begin; ox < ox_end; ++ox) {
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

// N output pixels in a row, 16 channels (masked), every tap of the 3x3 window inside the
// image, so the zero point is folded into the bias (bias − zp·Σw) and each tap is one
// vpdpwssd of the raw code (zero-extended: its high 16 bits are 0, so the weight's sign
// extension multiplies nothing) by the tap's weight. The S·(N−1)+3 input columns of each
// window row are widened once and shared by the N outputs. Int32 arithmetic wraps like the
// reference's, so the sums are equal bit for bit.
template <int S, int N>
inline void depthwise3x3_strip(const uint8_t* in, int64_t row_stride, int64_t channels, __mmask16 mask,
                               const __m512i (&w)[9], __m512i bias, __m512i m, __m512i shift, __m512i zp, __m512i lo,
                               __m512i hi, uint8_t* y) {
  constexpr int kColumns = S * (N - 1) + 3;
  __m512i acc[N];
#pragma GCC unroll 4
  for (int n = 0; n < N; ++n) acc[n] = bias;
#pragma GCC unroll 3
  for (int ky = 0; ky < 3; ++ky) {
    const uint8_t* row = in + ky * row_stride;
    __m512i column[kColumns];
#pragma GCC unroll 9
    for (int j = 0; j < kColumns; ++j) column[j] = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, row + j * channels));
#pragma GCC unroll 4
    for (int n = 0; n < N; ++n)
#pragma GCC unroll 3
      for (int kx = 0; kx < 3; ++kx) acc[n] = _mm512_dpwssd_epi32(acc[n], column[n * S + kx], w[ky * 3 + kx]);
  }
#pragma GCC unroll 4
  for (int n = 0; n < N; ++n)
    _mm_mask_storeu_epi8(y + n * channels, mask, _mm512_cvtepi32_epi8(requantize16(acc[n], m, shift, zp, lo, hi)));
}

// 3x3, stride S: rows whose window leaves the image, and the border columns, through
// depthwise_pixels; the interior in strips of 4 outputs per 16 channels, the weights and
// the requantization constants of those channels held in registers across the row.
template <int S>
void depthwise3x3(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t padding, int64_t out_w,
                  int64_t oy_begin, int64_t oy_end, int32_t zp, const int32_t* weights, const int32_t* bias,
                  const ChannelRequant& rq, uint8_t* out) {
  const auto [ox_lo, ox_hi] = interior_range(width, 3, S, padding, out_w);
  const __m512i out_zp = _mm512_set1_epi32(rq.zero_point), lo = _mm512_set1_epi32(rq.lo), hi = _mm512_set1_epi32(rq.hi);
  const __m512i vzp = _mm512_set1_epi32(zp);
  const int64_t row_stride = width * channels;
  for (int64_t oy = oy_begin; oy < oy_end; ++oy) {
    const int64_t iy0 = oy * S - padding;
    if (iy0 < 0 || iy0 + 3 > height) {
      depthwise_pixels(x, height, width, channels, 3, S, padding, out_w, oy, 0, out_w, zp, weights, bias, rq, out);
      continue;
    }
    depthwise_pixels(x, height, width, channels, 3, S, padding, out_w, oy, 0, ox_lo, zp, weights, bias, rq, out);
    depthwise_pixels(x, height, width, channels, 3, S, padding, out_w, oy, ox_hi, out_w, zp, weights, bias, rq, out);
    for (int64_t c0 = 0; c0 < channels; c0 += 16) {
      const __mmask16 mask = lanes_mask(channels - c0);
      __m512i w[9];
      __m512i weight_sum = _mm512_setzero_si512();
      for (int t = 0; t < 9; ++t) {
        w[t] = _mm512_maskz_loadu_epi32(mask, weights + t * channels + c0);
        weight_sum = _mm512_add_epi32(weight_sum, w[t]);
      }
      const __m512i folded =
          _mm512_sub_epi32(_mm512_maskz_loadu_epi32(mask, bias + c0), _mm512_mullo_epi32(vzp, weight_sum));
      const __m512i m = _mm512_maskz_loadu_epi32(mask, rq.multiplier + c0);
      const __m512i shift = _mm512_maskz_loadu_epi32(mask, rq.shift + c0);
      const uint8_t* in = x + iy0 * row_stride + c0;
      uint8_t* y = out + oy * out_w * channels + c0;
      int64_t ox = ox_lo;
      for (; ox + 4 <= ox_hi; ox += 4)
        depthwise3x3_strip<S, 4>(in + (ox * S - padding) * channels, row_stride, channels, mask, w, folded, m, shift,
                                 out_zp, lo, hi, y + ox * channels);
      for (; ox < ox_hi; ++ox)
        depthwise3x3_strip<S, 1>(in + (ox * S - padding) * channels, row_stride, channels, mask, w, folded, m, shift,
                                 out_zp, lo, hi, y + ox * channels);
    }
  }
}

}  // namespace

void depthwise_nhwc_avx512(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t kernel,
                           int64_t stride, int64_t padding, int64_t out_w, int64_t oy_begin, int64_t oy_end,
                           int32_t zp, const int32_t* weights, const int32_t* bias, const ChannelRequant& rq,
                           uint8_t* out) {
  if (kernel == 3 && stride == 1)
    return depthwise3x3<1>(x, height, width, channels, padding, out_w, oy_begin, oy_end, zp, weights, bias, rq, out);
  if (kernel == 3 && stride == 2)
    return depthwise3x3<2>(x, height, width, channels, padding, out_w, oy_begin, oy_end, zp, weights, bias, rq, out);
  for (int64_t oy = oy_begin; oy < oy_end; ++oy)
    depthwise_pixels(x, height, width, channels, kernel, stride, padding, out_w, oy, 0, out_w, zp, weights, bias, rq,
                     out);
}

}  // namespace intrain::int8
