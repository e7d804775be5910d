// The AVX-512 VNNI NHWC int8 depthwise convolution: a 3x3 interior path (strips of output
// pixels, 64 channels, one vpdpbusd per input column and 16 channels: see QuadBlock; up to
// 32 channels one vpdpwssd per tap and 16 channels) and a general path for other kernels and
// the image borders. Bit-identical to
// depthwise_nhwc_reference.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

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
inline void depthwise3x3_strip16(const uint8_t* in, int64_t row_stride, int64_t channels, __mmask16 mask,
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

// The interior of output row oy for channels [c_begin, c_end), 16 channels per vector: strips
// of 4 outputs, one vpdpwssd per tap, the weights and the requantization constants of those
// channels held in registers across the row.
template <int S>
void narrow_interior(const uint8_t* x, int64_t width, int64_t channels, int64_t padding, int64_t out_w, int64_t oy,
                     int64_t ox_lo, int64_t ox_hi, int64_t c_begin, int64_t c_end, int32_t zp, const int32_t* weights,
                     const int32_t* bias, const ChannelRequant& rq, uint8_t* out) {
  const __m512i out_zp = _mm512_set1_epi32(rq.zero_point), lo = _mm512_set1_epi32(rq.lo), hi = _mm512_set1_epi32(rq.hi);
  const __m512i vzp = _mm512_set1_epi32(zp);
  const int64_t row_stride = width * channels;
  const int64_t iy0 = oy * S - padding;
  for (int64_t c0 = c_begin; c0 < c_end; c0 += 16) {
    const __mmask16 mask = lanes_mask(c_end - c0);
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
      depthwise3x3_strip16<S, 4>(in + (ox * S - padding) * channels, row_stride, channels, mask, w, folded, m, shift,
                                 out_zp, lo, hi, y + ox * channels);
    for (; ox < ox_hi; ++ox)
      depthwise3x3_strip16<S, 1>(in + (ox * S - padding) * channels, row_stride, channels, mask, w, folded, m, shift,
                                 out_zp, lo, hi, y + ox * channels);
  }
}

// A 64-channel quad block costs the same however few of its channels are real, and 16
// channels per vector cost about a third of it per 16 channels: channels past the last full
// block go through narrow_interior when they are this many or fewer (MobileNetV2's 96 and 144
// leave tails of 32 and 16), and the whole op does when it has no more than this
// (MobileNetV1-0.75's first 24-channel depthwise ran 15% slower on quads).
constexpr int64_t kNarrowChannels = 32;

// The channels the quad blocks take: every full block, and the tail too when it is longer
// than kNarrowChannels (none for an op of at most kNarrowChannels channels).
inline int64_t quad_channels(int64_t channels) {
  const int64_t tail = channels % 64;
  return tail > kNarrowChannels ? channels : channels - tail;
}

// The 3x3 interior path works on 64 channels at a time and multiplies with vpdpbusd, which
// sums four u8 x s8 products into each int32 lane: a lane holds one channel's three rows of
// one input column (r0, r1, r2, 0) against that channel's column of weights (w0, w1, w2, 0),
// so an output pixel is three vpdpbusd per 16 channels instead of nine multiplies, and one
// column's quads serve every output of the strip whose window covers that column. The byte
// interleave that builds the quads (unpack of r0 with r1, of r2 with 0, then of the two) works
// within 128-bit lanes, so quad vector k holds, at dword 4l + i, channel 16l + 4k + i; the
// weights, biases and requantization constants are laid out in that order once per call, and
// packing the four requantized vectors back down to bytes (packs 32→16 twice, then packus
// 16→8) undoes the interleave exactly: the 64 codes come out in channel order.
//
// The zero point is folded into the bias (bias − zp·Σw) so the raw codes multiply; every sum
// is an int32 sum of the same products as the reference's (the validator bounds them below
// 2^31; partial sums wrap as the reference's would), so the results are equal bit for bit.
struct alignas(64) QuadBlock {
  int32_t weights[3][4][16];  // [kx][k][dword]: bytes (w[0][kx], w[1][kx], w[2][kx], 0) of the dword's channel
  int32_t bias[4][16];        // bias − zp·Σw
  int32_t multiplier[4][16];
  int32_t shift[4][16];
};

// A 3x3 op's blocks of 64 channels; `small` tells whether every sum stays within ±2^30
// (|bias − zp·Σw| + 255·Σ|w| below it), so that requantize16_small_unclamped applies.
struct QuadBlocks {
  std::vector<QuadBlock> blocks;
  bool small = true;
};

// From [tap][channel] int32 weights; channels past the end get zeros (their outputs are
// masked off).
QuadBlocks quad_blocks(int64_t channels, int32_t zp, const int32_t* weights, const int32_t* bias,
                       const ChannelRequant& rq) {
  QuadBlocks made;
  std::vector<QuadBlock>& blocks = made.blocks;
  bool& small = made.small;
  blocks.resize(static_cast<size_t>((quad_channels(channels) + 63) / 64));
  for (size_t b = 0; b < blocks.size(); ++b) {
    QuadBlock& q = blocks[b];
    for (int k = 0; k < 4; ++k)
      for (int l = 0; l < 4; ++l)
        for (int i = 0; i < 4; ++i) {
          const int64_t c = static_cast<int64_t>(b) * 64 + 16 * l + 4 * k + i;
          const int d = 4 * l + i;
          const bool real = c < channels;
          int64_t weight_sum = 0, magnitude = 0;
          for (int kx = 0; kx < 3; ++kx) {
            uint32_t packed = 0;
            for (int ky = 0; ky < 3; ++ky) {
              const int32_t w = real ? weights[(ky * 3 + kx) * channels + c] : 0;
              weight_sum += w;
              magnitude += w < 0 ? -int64_t{w} : w;
              packed |= static_cast<uint32_t>(static_cast<uint8_t>(static_cast<int8_t>(w))) << (8 * ky);
            }
            q.weights[kx][k][d] = static_cast<int32_t>(packed);
          }
          // The validator bounds every sum below 2^31, so the folded bias fits in int32.
          const int64_t folded = real ? bias[c] - int64_t{zp} * weight_sum : 0;
          q.bias[k][d] = static_cast<int32_t>(folded);
          small = small && (folded < 0 ? -folded : folded) + 255 * magnitude < (int64_t{1} << 30);
          q.multiplier[k][d] = real ? rq.multiplier[c] : 0;
          q.shift[k][d] = real ? rq.shift[c] : 0;
        }
  }
  return made;
}

// The four quad vectors of one input column (64 channels, rows row, row + row_stride, row + 2·row_stride).
[[gnu::always_inline]] inline void column_quads(const uint8_t* p, int64_t row_stride, __mmask64 mask, __m512i (&q)[4]) {
  const __m512i r0 = _mm512_maskz_loadu_epi8(mask, p);
  const __m512i r1 = _mm512_maskz_loadu_epi8(mask, p + row_stride);
  const __m512i r2 = _mm512_maskz_loadu_epi8(mask, p + 2 * row_stride);
  const __m512i zero = _mm512_setzero_si512();
  const __m512i a_lo = _mm512_unpacklo_epi8(r0, r1), a_hi = _mm512_unpackhi_epi8(r0, r1);
  const __m512i b_lo = _mm512_unpacklo_epi8(r2, zero), b_hi = _mm512_unpackhi_epi8(r2, zero);
  q[0] = _mm512_unpacklo_epi16(a_lo, b_lo);
  q[1] = _mm512_unpackhi_epi16(a_lo, b_lo);
  q[2] = _mm512_unpacklo_epi16(a_hi, b_hi);
  q[3] = _mm512_unpackhi_epi16(a_hi, b_hi);
}

// N output pixels in a row, 64 channels (masked), every tap of the 3x3 window inside the image.
// Small: every sum within ±2^30, so the cheaper rounding applies and the packs' saturation
// with a u8 min/max is the clamp (the codes' bounds lie in [0, 255]).
template <int S, int N, bool Small>
[[gnu::always_inline]] inline void depthwise3x3_quad_strip(const uint8_t* in, int64_t row_stride, int64_t channels,
                                                      __mmask64 mask, const QuadBlock& b, const Requant16 (&rq)[4],
                                                      const SmallRequant16 (&small)[4], __m512i lo, __m512i hi,
                                                      uint8_t* y) {
  constexpr int kColumns = S * (N - 1) + 3;
  __m512i acc[N][4];
#pragma GCC unroll 4
  for (int n = 0; n < N; ++n)
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) acc[n][k] = _mm512_load_si512(b.bias[k]);
#pragma GCC unroll 9
  for (int j = 0; j < kColumns; ++j) {
    __m512i q[4];
    column_quads(in + j * channels, row_stride, mask, q);
#pragma GCC unroll 4
    for (int n = 0; n < N; ++n) {
      const int kx = j - S * n;
      if (kx < 0 || kx > 2) continue;
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) acc[n][k] = _mm512_dpbusd_epi32(acc[n][k], q[k], _mm512_load_si512(b.weights[kx][k]));
    }
  }
#pragma GCC unroll 4
  for (int n = 0; n < N; ++n) {
    __m512i r[4];
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k)
      r[k] = Small ? requantize16_small_unclamped(acc[n][k], small[k]) : requantize16(acc[n][k], rq[k]);
    __m512i codes = _mm512_packus_epi16(_mm512_packs_epi32(r[0], r[1]), _mm512_packs_epi32(r[2], r[3]));
    if (Small) codes = _mm512_min_epu8(_mm512_max_epu8(codes, lo), hi);
    _mm512_mask_storeu_epi8(y + n * channels, mask, codes);
  }
}

inline __mmask64 bytes_mask(int64_t bytes) { return bytes >= 64 ? ~__mmask64{0} : (__mmask64{1} << bytes) - 1; }

// The interior of rows [oy_begin, oy_end) (every row's window inside the image) in strips of
// 4 outputs per 64-channel block.
template <int S, bool Small>
void depthwise3x3_interior(const uint8_t* x, int64_t width, int64_t channels, int64_t padding, int64_t out_w,
                           int64_t oy, int64_t ox_lo, int64_t ox_hi, const std::vector<QuadBlock>& blocks,
                           const ChannelRequant& rq, uint8_t* out) {
  const __m512i out_zp = _mm512_set1_epi32(rq.zero_point), lo = _mm512_set1_epi32(rq.lo), hi = _mm512_set1_epi32(rq.hi);
  const __m512i lo8 = _mm512_set1_epi8(static_cast<char>(rq.lo)), hi8 = _mm512_set1_epi8(static_cast<char>(rq.hi));
  const int64_t row_stride = width * channels;
  const int64_t iy0 = oy * S - padding;
  for (size_t block = 0; block < blocks.size(); ++block) {
    const int64_t c0 = static_cast<int64_t>(block) * 64;
    const QuadBlock& b = blocks[block];
    const __mmask64 mask = bytes_mask(channels - c0);
    Requant16 requant[4];
    SmallRequant16 small[4];
    for (int k = 0; k < 4; ++k) {
      const __m512i m = _mm512_load_si512(b.multiplier[k]), shift = _mm512_load_si512(b.shift[k]);
      if (Small)
        small[k] = make_small_requant16(m, shift, out_zp);
      else
        requant[k] = make_requant16(m, shift, out_zp, lo, hi);
    }
    const uint8_t* in = x + iy0 * row_stride + c0;
    uint8_t* y = out + oy * out_w * channels + c0;
    int64_t ox = ox_lo;
    for (; ox + 4 <= ox_hi; ox += 4)
      depthwise3x3_quad_strip<S, 4, Small>(in + (ox * S - padding) * channels, row_stride, channels, mask, b, requant,
                                           small, lo8, hi8, y + ox * channels);
    for (; ox < ox_hi; ++ox)
      depthwise3x3_quad_strip<S, 1, Small>(in + (ox * S - padding) * channels, row_stride, channels, mask, b, requant,
                                           small, lo8, hi8, y + ox * channels);
  }
}

// 3x3, stride S: rows whose window leaves the image, and the border columns, through
// depthwise_pixels; the interior's full 64-channel blocks (and a tail over kNarrowChannels)
// through depthwise3x3_interior, the rest 16 channels per vector through narrow_interior.
template <int S>
void depthwise3x3(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t padding, int64_t out_w,
                  int64_t oy_begin, int64_t oy_end, int32_t zp, const int32_t* weights, const int32_t* bias,
                  const ChannelRequant& rq, const QuadBlocks* prepared, uint8_t* out) {
  const auto [ox_lo, ox_hi] = interior_range(width, 3, S, padding, out_w);
  const int64_t quads_end = quad_channels(channels);
  // Made per call when the executor did not prepare them (a 14x14x384 layer spent a fifth
  // of its time here).
  QuadBlocks made;
  if (!prepared && quads_end > 0) made = quad_blocks(channels, zp, weights, bias, rq);
  const QuadBlocks& quads = prepared ? *prepared : made;
  const std::vector<QuadBlock>& blocks = quads.blocks;
  const bool small = quads.small;
  for (int64_t oy = oy_begin; oy < oy_end; ++oy) {
    const int64_t iy0 = oy * S - padding;
    if (iy0 < 0 || iy0 + 3 > height) {
      depthwise_pixels(x, height, width, channels, 3, S, padding, out_w, oy, 0, out_w, zp, weights, bias, rq, out);
      continue;
    }
    depthwise_pixels(x, height, width, channels, 3, S, padding, out_w, oy, 0, ox_lo, zp, weights, bias, rq, out);
    depthwise_pixels(x, height, width, channels, 3, S, padding, out_w, oy, ox_hi, out_w, zp, weights, bias, rq, out);
    if (small)
      depthwise3x3_interior<S, true>(x, width, channels, padding, out_w, oy, ox_lo, ox_hi, blocks, rq, out);
    else
      depthwise3x3_interior<S, false>(x, width, channels, padding, out_w, oy, ox_lo, ox_hi, blocks, rq, out);
    if (quads_end < channels)
      narrow_interior<S>(x, width, channels, padding, out_w, oy, ox_lo, ox_hi, quads_end, channels, zp, weights, bias,
                         rq, out);
  }
}

}  // namespace

void depthwise_nhwc_avx512(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t kernel,
                           int64_t stride, int64_t padding, int64_t out_w, int64_t oy_begin, int64_t oy_end,
                           int32_t zp, const int32_t* weights, const int32_t* bias, const ChannelRequant& rq,
                           const void* prepared, uint8_t* out) {
  const auto* quads = static_cast<const QuadBlocks*>(prepared);
  if (kernel == 3 && stride == 1)
    return depthwise3x3<1>(x, height, width, channels, padding, out_w, oy_begin, oy_end, zp, weights, bias, rq, quads,
                           out);
  if (kernel == 3 && stride == 2)
    return depthwise3x3<2>(x, height, width, channels, padding, out_w, oy_begin, oy_end, zp, weights, bias, rq, quads,
                           out);
  for (int64_t oy = oy_begin; oy < oy_end; ++oy)
    depthwise_pixels(x, height, width, channels, kernel, stride, padding, out_w, oy, 0, out_w, zp, weights, bias, rq,
                     out);
}

std::shared_ptr<const void> prepare_depthwise_avx512(int64_t channels, int64_t kernel, int64_t stride, int32_t zp,
                                                     const int32_t* weights, const int32_t* bias,
                                                     const ChannelRequant& rq) {
  if (kernel != 3 || (stride != 1 && stride != 2) || channels <= kNarrowChannels) return nullptr;
  return std::make_shared<const QuadBlocks>(quad_blocks(channels, zp, weights, bias, rq));
}

}  // namespace intrain::int8
