// AVX-512 int8 kernels: the VNNI GEMM (with requantization fused into its epilogue), the
// NHWC depthwise convolution and vectorized per-channel requantization. Exact int32
// arithmetic throughout, so they equal the reference loops bit for bit.
#include <immintrin.h>

#include <climits>
#include <cstdint>
#include <cstring>

#include "int8/kernels.hpp"

namespace intrain::int8 {

namespace {

// requantize() on 16 lanes with per-lane multipliers and right shifts (0..30, multiplier > 0):
//  - the rounding doubling high multiply equals (a·b + 2^30) >> 31 (arithmetic) for every
//    a and b > 0;
//  - the rounding right shift adds 1 when the remainder exceeds mask/2 (+1 for negatives).
inline __m512i requantize16(__m512i x, __m512i m, __m512i shift, __m512i zp, __m512i lo, __m512i hi) {
  const __m512i round = _mm512_set1_epi64(int64_t{1} << 30);
  const __m512i even = _mm512_srai_epi64(_mm512_add_epi64(_mm512_mul_epi32(x, m), round), 31);
  const __m512i odd = _mm512_srai_epi64(
      _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(m, 32)), round), 31);
  // Lane 2k from the even products, 2k+1 from the odd ones.
  const __m512i high = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, shift), one);
  const __mmask16 negative = _mm512_cmplt_epi32_mask(high, _mm512_setzero_si512());
  const __m512i half = _mm512_srai_epi32(mask, 1);
  const __m512i threshold = _mm512_mask_add_epi32(half, negative, half, one);
  const __mmask16 up = _mm512_cmpgt_epi32_mask(_mm512_and_si512(high, mask), threshold);
  const __m512i shifted = _mm512_srav_epi32(high, shift);
  const __m512i v = _mm512_add_epi32(_mm512_mask_add_epi32(shifted, up, shifted, one), zp);
  return _mm512_min_epi32(_mm512_max_epi32(v, lo), hi);
}

inline __mmask16 lanes_mask(int64_t lanes) { return static_cast<__mmask16>(lanes >= 16 ? 0xFFFF : (1u << lanes) - 1); }

// Bias, then codes (requantized per channel) or raw accumulators, for a tile's R rows × B blocks.
template <int R, int B>
inline void tile_epilogue(const __m512i (&sums)[6][4], const int32_t* bias, int64_t out, int64_t oc0,
                          const GemmOutput& output, int64_t row0) {
  for (int b = 0; b < B; ++b) {
    const int64_t oc = oc0 + b * 16;
    const __mmask16 mask = lanes_mask(out - oc);
    const __m512i vb = _mm512_maskz_loadu_epi32(mask, bias + oc);
    if (output.codes) {
      const ChannelRequant& rq = output.requant;
      const __m512i m = _mm512_maskz_loadu_epi32(mask, rq.multiplier + oc);
      const __m512i shift = _mm512_maskz_loadu_epi32(mask, rq.shift + oc);
      const __m512i zp = _mm512_set1_epi32(rq.zero_point), lo = _mm512_set1_epi32(rq.lo), hi = _mm512_set1_epi32(rq.hi);
      for (int r = 0; r < R; ++r) {
        const __m512i v = requantize16(_mm512_add_epi32(sums[r][b], vb), m, shift, zp, lo, hi);
        _mm_mask_storeu_epi8(output.codes + (row0 + r) * output.ld + oc, mask, _mm512_cvtepi32_epi8(v));
      }
    } else {
      for (int r = 0; r < R; ++r)
        _mm512_mask_storeu_epi32(output.acc + (row0 + r) * output.ld + oc, mask, _mm512_add_epi32(sums[r][b], vb));
    }
  }
}

// One tile of the GEMM: R rows × B blocks of 16 output channels (R <= 6, B <= 4), all
// accumulators in registers (R·B + B + 1 <= 29 zmm); each step loads B weight vectors and
// broadcasts 4 bytes of each row. The accumulators are named variables, not an array: GCC
// kept an array of 24 vectors in memory (a store per multiply-add), 2.5x slower.
template <int R, int B>
void gemm_tile(const uint8_t* x, int64_t lda, int64_t groups, const int8_t* packed, const int32_t* bias, int64_t out,
               int64_t oc0, const GemmOutput& output, int64_t row0) {
  const __m512i zero = _mm512_setzero_si512();
#define INTRAIN_ROW(r) __m512i a##r##0 = zero, a##r##1 = zero, a##r##2 = zero, a##r##3 = zero;
  INTRAIN_ROW(0) INTRAIN_ROW(1) INTRAIN_ROW(2) INTRAIN_ROW(3) INTRAIN_ROW(4) INTRAIN_ROW(5)
#undef INTRAIN_ROW
  const int8_t* wb = packed + (oc0 / 16) * groups * 64;
  for (int64_t g = 0; g < groups; ++g) {
    const __m512i w0 = _mm512_loadu_si512(wb + g * 64);
    const __m512i w1 = B > 1 ? _mm512_loadu_si512(wb + (groups + g) * 64) : zero;
    const __m512i w2 = B > 2 ? _mm512_loadu_si512(wb + (2 * groups + g) * 64) : zero;
    const __m512i w3 = B > 3 ? _mm512_loadu_si512(wb + (3 * groups + g) * 64) : zero;
#define INTRAIN_ROW(r)                                                  \
  if constexpr (R > r) {                                                \
    int32_t four;                                                       \
    std::memcpy(&four, x + r * lda + g * 4, 4);                         \
    const __m512i v = _mm512_set1_epi32(four);                          \
    a##r##0 = _mm512_dpbusd_epi32(a##r##0, v, w0);                      \
    if constexpr (B > 1) a##r##1 = _mm512_dpbusd_epi32(a##r##1, v, w1); \
    if constexpr (B > 2) a##r##2 = _mm512_dpbusd_epi32(a##r##2, v, w2); \
    if constexpr (B > 3) a##r##3 = _mm512_dpbusd_epi32(a##r##3, v, w3); \
  }
    INTRAIN_ROW(0) INTRAIN_ROW(1) INTRAIN_ROW(2) INTRAIN_ROW(3) INTRAIN_ROW(4) INTRAIN_ROW(5)
#undef INTRAIN_ROW
  }
  const __m512i sums[6][4] = {{a00, a01, a02, a03}, {a10, a11, a12, a13}, {a20, a21, a22, a23},
                              {a30, a31, a32, a33}, {a40, a41, a42, a43}, {a50, a51, a52, a53}};
  tile_epilogue<R, B>(sums, bias, out, oc0, output, row0);
}

using TileFn = void (*)(const uint8_t*, int64_t, int64_t, const int8_t*, const int32_t*, int64_t, int64_t,
                        const GemmOutput&, int64_t);
constexpr int kTileRows = 6, kTileBlocks = 4;

template <int R>
constexpr TileFn tile_for(int blocks) {
  return blocks == 1 ? gemm_tile<R, 1> : blocks == 2 ? gemm_tile<R, 2> : blocks == 3 ? gemm_tile<R, 3> : gemm_tile<R, 4>;
}

TileFn tile_fn(int rows, int blocks) {
  switch (rows) {
    case 1: return tile_for<1>(blocks);
    case 2: return tile_for<2>(blocks);
    case 3: return tile_for<3>(blocks);
    case 4: return tile_for<4>(blocks);
    case 5: return tile_for<5>(blocks);
    default: return tile_for<6>(blocks);
  }
}

}  // namespace

void gemm_vnni(const uint8_t* x, int64_t rows, int64_t lda, int64_t k_padded, int64_t out, const int8_t* packed,
               const int32_t* bias, int64_t oc_begin, int64_t oc_end, const GemmOutput& output) {
  // Rows in panels that stay in L1 while every block of output channels passes over them.
  constexpr int64_t kPanel = 48;
  const int64_t groups = k_padded / 4;
  for (int64_t p0 = 0; p0 < rows; p0 += kPanel) {
    const int64_t p1 = p0 + kPanel < rows ? p0 + kPanel : rows;
    for (int64_t oc = oc_begin; oc < oc_end; oc += 16 * kTileBlocks) {
      const int64_t remaining = (oc_end - oc + 15) / 16;
      const int blocks = static_cast<int>(remaining < kTileBlocks ? remaining : kTileBlocks);
      for (int64_t r = p0; r < p1; r += kTileRows) {
        const int tile_rows = static_cast<int>(p1 - r < kTileRows ? p1 - r : kTileRows);
        tile_fn(tile_rows, blocks)(x + r * lda, lda, groups, packed, bias, out, oc, output, r);
      }
    }
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
  for (int64_t oy = oy_begin; oy < oy_end; ++oy) {
    const int64_t iy0 = oy * stride - padding;
    const int64_t ya = iy0 < 0 ? 0 : iy0, yb = iy0 + kernel < height ? iy0 + kernel : height;
    for (int64_t ox = 0; ox < out_w; ++ox) {
      const int64_t ix0 = ox * stride - padding;
      const int64_t xa = ix0 < 0 ? 0 : ix0, xb = ix0 + kernel < width ? ix0 + kernel : width;
      uint8_t* y = out + (oy * out_w + ox) * channels;
      for (int64_t c0 = 0; c0 < channels; c0 += 64) {
        const __mmask64 mask = channels - c0 >= 64 ? ~__mmask64{0} : (__mmask64{1} << (channels - c0)) - 1;
        __m512i best = _mm512_setzero_si512();
        for (int64_t iy = ya; iy < yb; ++iy)
          for (int64_t ix = xa; ix < xb; ++ix)
            best = _mm512_max_epu8(best, _mm512_maskz_loadu_epi8(mask, x + (iy * width + ix) * channels + c0));
        _mm512_mask_storeu_epi8(y + c0, mask, best);
      }
    }
  }
}

void add_avx512(const uint8_t* a, const uint8_t* b, int64_t n, const AddParams& p, uint8_t* out) {
  const __m512i za = _mm512_set1_epi32(p.a_zero_point), zb = _mm512_set1_epi32(p.b_zero_point);
  const __m512i zero = _mm512_setzero_si512(), min = _mm512_set1_epi32(INT32_MIN), max = _mm512_set1_epi32(INT32_MAX);
  __m512i m[3], shift[3];
  for (int i = 0; i < 3; ++i) {
    m[i] = _mm512_set1_epi32(p.multiplier[i]);
    shift[i] = _mm512_set1_epi32(p.shift[i]);
  }
  const __m512i zp = _mm512_set1_epi32(p.zero_point), lo = _mm512_set1_epi32(p.lo), hi = _mm512_set1_epi32(p.hi);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 mask = lanes_mask(n - i);
    const __m512i xa = _mm512_slli_epi32(_mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, a + i)), za), 20);
    const __m512i xb = _mm512_slli_epi32(_mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, b + i)), zb), 20);
    const __m512i sum = _mm512_add_epi32(requantize16(xa, m[0], shift[0], zero, min, max),
                                         requantize16(xb, m[1], shift[1], zero, min, max));
    _mm_mask_storeu_epi8(out + i, mask, _mm512_cvtepi32_epi8(requantize16(sum, m[2], shift[2], zp, lo, hi)));
  }
}

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
