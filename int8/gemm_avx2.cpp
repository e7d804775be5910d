// The AVX2 int8 GEMM for CPUs without AVX-512 VNNI. vpmaddubsw would saturate its 16-bit
// sums (255·127·2 > 32767), so bytes are widened to 16 bits and multiplied with vpmaddwd,
// which is exact. Bit-identical to the reference loops and to the VNNI kernel.
//
// Tiles of up to 5 rows × 8 output channels: the rows are widened to int16 once per tile,
// each step broadcasts a row's 4 k-values (one 64-bit load) against 8 channels × 4 k of
// weights (two vectors, widened once per step and shared by the rows); the pairs of partial
// sums vpmaddwd leaves are joined once at the end. Accumulators are named variables so the
// compiler keeps them in the 16 ymm registers.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "int8/avx2_requantize.hpp"
#include "int8/kernels.hpp"

namespace intrain::int8 {

namespace {

constexpr int kRows = 5;  // 10 accumulators + weights + broadcast fit the 16 ymm registers

// lanes [0 1 | 2 3 | ...] of hadd(lo, hi) hold channels [0 1 4 5 | 2 3 6 7]; this restores 0..7.
inline __m256i join(__m256i lo, __m256i hi) {
  return _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(lo, hi), _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7));
}

// 8 accumulated channels of one row + bias → codes or int32 at `oc` (`count` of them valid).
inline void finish_row(__m256i sum, const int32_t* bias, int64_t oc, int64_t count, const GemmOutput& output,
                       int64_t row) {
  alignas(32) int32_t lanes[8] = {};
  std::memcpy(lanes, bias + oc, static_cast<size_t>(count) * 4);
  sum = _mm256_add_epi32(sum, _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes)));
  if (output.codes) {
    const ChannelRequant& rq = output.requant;
    alignas(32) int32_t m[8] = {}, shift[8] = {};
    std::memcpy(m, rq.multiplier + oc, static_cast<size_t>(count) * 4);
    std::memcpy(shift, rq.shift + oc, static_cast<size_t>(count) * 4);
    const __m256i v = requantize8(sum, _mm256_load_si256(reinterpret_cast<const __m256i*>(m)),
                                  _mm256_load_si256(reinterpret_cast<const __m256i*>(shift)),
                                  _mm256_set1_epi32(rq.zero_point), _mm256_set1_epi32(rq.lo), _mm256_set1_epi32(rq.hi));
    // 8 int32 in 0..255 → 8 bytes.
    const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    const int64_t bytes = _mm_cvtsi128_si64(_mm_packus_epi16(words, words));
    std::memcpy(output.codes + row * output.ld + oc, &bytes, static_cast<size_t>(count));
  } else {
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), sum);
    std::memcpy(output.acc + row * output.ld + oc, lanes, static_cast<size_t>(count) * 4);
  }
}

template <int R>
void tile(const int16_t* x16, int64_t k_padded, const int8_t* block, int64_t groups, const int32_t* bias, int64_t oc,
          int64_t count, const GemmOutput& output, int64_t row0) {
  const __m256i zero = _mm256_setzero_si256();
#define INTRAIN_ROW(r) __m256i lo##r = zero, hi##r = zero;
  INTRAIN_ROW(0) INTRAIN_ROW(1) INTRAIN_ROW(2) INTRAIN_ROW(3) INTRAIN_ROW(4) INTRAIN_ROW(5)
#undef INTRAIN_ROW
  for (int64_t g = 0; g < groups; ++g) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + g * 64));
    const __m256i wlo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(w));       // channels 0-3 × 4 k
    const __m256i whi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(w, 1));  // channels 4-7 × 4 k
#define INTRAIN_ROW(r)                                                        \
  if constexpr (R > r) {                                                      \
    int64_t four;                                                             \
    std::memcpy(&four, x16 + r * k_padded + g * 4, 8);                        \
    const __m256i v = _mm256_set1_epi64x(four);                               \
    lo##r = _mm256_add_epi32(lo##r, _mm256_madd_epi16(wlo, v));               \
    hi##r = _mm256_add_epi32(hi##r, _mm256_madd_epi16(whi, v));               \
  }
    INTRAIN_ROW(0) INTRAIN_ROW(1) INTRAIN_ROW(2) INTRAIN_ROW(3) INTRAIN_ROW(4) INTRAIN_ROW(5)
#undef INTRAIN_ROW
  }
#define INTRAIN_ROW(r) \
  if constexpr (R > r) finish_row(join(lo##r, hi##r), bias, oc, count, output, row0 + r);
  INTRAIN_ROW(0) INTRAIN_ROW(1) INTRAIN_ROW(2) INTRAIN_ROW(3) INTRAIN_ROW(4) INTRAIN_ROW(5)
#undef INTRAIN_ROW
}

using TileFn = void (*)(const int16_t*, int64_t, const int8_t*, int64_t, const int32_t*, int64_t, int64_t,
                        const GemmOutput&, int64_t);
constexpr TileFn kTiles[kRows] = {tile<1>, tile<2>, tile<3>, tile<4>, tile<5>};

}  // namespace

void gemm_avx2(const uint8_t* x, int64_t rows, int64_t lda, int64_t k_padded, int64_t out, const int8_t* packed,
               const int32_t* bias, int64_t oc_begin, int64_t oc_end, const GemmOutput& output) {
  (void)out;
  const int64_t groups = k_padded / 4;
  int16_t* x16 = static_cast<int16_t*>(_mm_malloc(static_cast<size_t>(kRows * k_padded) * 2, 32));
  for (int64_t r0 = 0; r0 < rows; r0 += kRows) {
    const int tile_rows = static_cast<int>(rows - r0 < kRows ? rows - r0 : kRows);
    for (int r = 0; r < tile_rows; ++r)  // the tile's rows widened to int16, once
      for (int64_t k = 0; k < k_padded; ++k) x16[r * k_padded + k] = x[(r0 + r) * lda + k];
    for (int64_t o0 = oc_begin; o0 < oc_end; o0 += 8) {
      const int8_t* block = packed + (o0 / 16) * groups * 64 + (o0 % 16) * 4;
      kTiles[tile_rows - 1](x16, k_padded, block, groups, bias, o0, oc_end - o0 < 8 ? oc_end - o0 : 8, output, r0);
    }
  }
  _mm_free(x16);
}

namespace {

// Depthwise convolution, output pixels [ox_begin, ox_end) of row oy, 8 channels per vector
// (channels a multiple of 8; the executor uses the reference otherwise), window bounds
// checked per pixel: in-bounds taps' codes widened to int32, centred, times the tap's
// weights, then requantize8. The general path, and the borders of the 3x3 one.
void depthwise_pixels(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t kernel,
                      int64_t stride, int64_t padding, int64_t out_w, int64_t oy, int64_t ox_begin, int64_t ox_end,
                      int32_t zp, const int32_t* weights, const int32_t* bias, const ChannelRequant& rq,
                      uint8_t* out) {
  const __m256i vzp = _mm256_set1_epi32(zp);
  const __m256i out_zp = _mm256_set1_epi32(rq.zero_point), lo = _mm256_set1_epi32(rq.lo), hi = _mm256_set1_epi32(rq.hi);
  const int64_t iy0 = oy * stride - padding;
  const int64_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = height - iy0 < kernel ? height - iy0 : kernel;
  for (int64_t ox = ox_begin; ox < ox_end; ++ox) {
    const int64_t ix0 = ox * stride - padding;
    const int64_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = width - ix0 < kernel ? width - ix0 : kernel;
    uint8_t* y = out + (oy * out_w + ox) * channels;
    for (int64_t c = 0; c < channels; c += 8) {
      __m256i sum = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bias + c));
      for (int64_t ky = ky0; ky < ky1; ++ky)
        for (int64_t kx = kx0; kx < kx1; ++kx) {
          int64_t eight;
          std::memcpy(&eight, x + ((iy0 + ky) * width + ix0 + kx) * channels + c, 8);
          const __m256i xv = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(eight)), vzp);
          const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(weights + (ky * kernel + kx) * channels + c));
          sum = _mm256_add_epi32(sum, _mm256_mullo_epi32(xv, w));
        }
      const __m256i v = requantize8(sum, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rq.multiplier + c)),
                                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rq.shift + c)), out_zp, lo, hi);
      const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
      const int64_t bytes = _mm_cvtsi128_si64(_mm_packus_epi16(words, words));
      std::memcpy(y + c, &bytes, 8);
    }
  }
}

inline __m256i widen8(const uint8_t* p) {
  int64_t eight;
  std::memcpy(&eight, p, 8);
  return _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(eight));
}

// N output pixels in a row, 8 channels, the whole 3x3 window inside the image: the zero
// point folded into the bias, each tap one vpmaddwd of the zero-extended code (high 16 bits
// 0) by the tap's weight plus an add, the S·(N−1)+3 input columns of each window row widened
// once for the N outputs. The weights stay in L1 (16 ymm registers are too few for them).
template <int S, int N>
inline void depthwise3x3_strip(const uint8_t* in, int64_t row_stride, int64_t channels, const int32_t* w,
                               int64_t w_stride, __m256i bias, __m256i m, __m256i shift, __m256i zp, __m256i lo,
                               __m256i hi, uint8_t* y) {
  constexpr int kColumns = S * (N - 1) + 3;
  __m256i acc[N];
#pragma GCC unroll 4
  for (int n = 0; n < N; ++n) acc[n] = bias;
#pragma GCC unroll 3
  for (int ky = 0; ky < 3; ++ky) {
    const uint8_t* row = in + ky * row_stride;
    __m256i column[kColumns];
#pragma GCC unroll 9
    for (int j = 0; j < kColumns; ++j) column[j] = widen8(row + j * channels);
#pragma GCC unroll 3
    for (int kx = 0; kx < 3; ++kx) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + (ky * 3 + kx) * w_stride));
#pragma GCC unroll 4
      for (int n = 0; n < N; ++n) acc[n] = _mm256_add_epi32(acc[n], _mm256_madd_epi16(column[n * S + kx], wv));
    }
  }
#pragma GCC unroll 4
  for (int n = 0; n < N; ++n) {
    const __m256i v = requantize8(acc[n], m, shift, zp, lo, hi);
    const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    const int64_t bytes = _mm_cvtsi128_si64(_mm_packus_epi16(words, words));
    std::memcpy(y + n * channels, &bytes, 8);
  }
}

// 3x3, stride S: rows whose window leaves the image and the border columns through
// depthwise_pixels, the interior in strips of 4 outputs per 8 channels.
template <int S>
void depthwise3x3(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t padding, int64_t out_w,
                  int64_t oy_begin, int64_t oy_end, int32_t zp, const int32_t* weights, const int32_t* bias,
                  const ChannelRequant& rq, uint8_t* out) {
  const auto [ox_lo, ox_hi] = interior_range(width, 3, S, padding, out_w);
  const __m256i out_zp = _mm256_set1_epi32(rq.zero_point), lo = _mm256_set1_epi32(rq.lo), hi = _mm256_set1_epi32(rq.hi);
  const int64_t row_stride = width * channels;
  for (int64_t oy = oy_begin; oy < oy_end; ++oy) {
    const int64_t iy0 = oy * S - padding;
    if (iy0 < 0 || iy0 + 3 > height) {
      depthwise_pixels(x, height, width, channels, 3, S, padding, out_w, oy, 0, out_w, zp, weights, bias, rq, out);
      continue;
    }
    depthwise_pixels(x, height, width, channels, 3, S, padding, out_w, oy, 0, ox_lo, zp, weights, bias, rq, out);
    depthwise_pixels(x, height, width, channels, 3, S, padding, out_w, oy, ox_hi, out_w, zp, weights, bias, rq, out);
    for (int64_t c = 0; c < channels; c += 8) {
      __m256i weight_sum = _mm256_setzero_si256();
      for (int t = 0; t < 9; ++t)
        weight_sum = _mm256_add_epi32(weight_sum,
                                      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(weights + t * channels + c)));
      const __m256i folded = _mm256_sub_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bias + c)),
                                              _mm256_mullo_epi32(_mm256_set1_epi32(zp), weight_sum));
      const __m256i m = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rq.multiplier + c));
      const __m256i shift = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rq.shift + c));
      const uint8_t* in = x + iy0 * row_stride + c;
      uint8_t* y = out + oy * out_w * channels + c;
      int64_t ox = ox_lo;
      for (; ox + 4 <= ox_hi; ox += 4)
        depthwise3x3_strip<S, 4>(in + (ox * S - padding) * channels, row_stride, channels, weights + c, channels,
                                 folded, m, shift, out_zp, lo, hi, y + ox * channels);
      for (; ox < ox_hi; ++ox)
        depthwise3x3_strip<S, 1>(in + (ox * S - padding) * channels, row_stride, channels, weights + c, channels,
                                 folded, m, shift, out_zp, lo, hi, y + ox * channels);
    }
  }
}

}  // namespace

// As quantize_input_avx512: IEEE division, round to nearest even, the ±512 clamp (NaN → −512),
// zero point, code range; a scalar tail.
void quantize_input_avx2(const float* x, int64_t n, float scale, int32_t zero_point, uint8_t* out) {
  const __m256 s = _mm256_set1_ps(scale), lo = _mm256_set1_ps(-512.0f), hi = _mm256_set1_ps(512.0f);
  const __m256i zp = _mm256_set1_epi32(zero_point), zero = _mm256_setzero_si256(), top = _mm256_set1_epi32(255);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 q = _mm256_round_ps(_mm256_div_ps(_mm256_loadu_ps(x + i), s), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256i v = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(q, lo), hi)), zp);
    const __m256i c = _mm256_min_epi32(_mm256_max_epi32(v, zero), top);
    const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
    const int64_t bytes = _mm_cvtsi128_si64(_mm_packus_epi16(words, words));
    std::memcpy(out + i, &bytes, 8);
  }
  quantize_input_reference(x + i, n - i, scale, zero_point, out + i);
}

// 3x3 at stride 1 or 2 through the strip kernel, everything else through depthwise_pixels.
void depthwise_nhwc_avx2(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t kernel,
                         int64_t stride, int64_t padding, int64_t out_w, int64_t oy_begin, int64_t oy_end, int32_t zp,
                         const int32_t* weights, const int32_t* bias, const ChannelRequant& rq,
                         const void* /*prepared: none*/, uint8_t* out) {
  if (kernel == 3 && stride == 1)
    return depthwise3x3<1>(x, height, width, channels, padding, out_w, oy_begin, oy_end, zp, weights, bias, rq, out);
  if (kernel == 3 && stride == 2)
    return depthwise3x3<2>(x, height, width, channels, padding, out_w, oy_begin, oy_end, zp, weights, bias, rq, out);
  for (int64_t oy = oy_begin; oy < oy_end; ++oy)
    depthwise_pixels(x, height, width, channels, kernel, stride, padding, out_w, oy, 0, out_w, zp, weights, bias, rq,
                     out);
}

}  // namespace intrain::int8
