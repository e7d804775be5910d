// The AVX2 table's requantization, max pooling and residual addition (compiled with -mavx2;
// run only when the avx2 table is chosen). Bit-identical to the reference loops: the
// requantization is requantize8's exact rounding, pooling a byte maximum, and the addition
// requantize8 three times, as add_reference applies the gemmlowp steps.
#include <immintrin.h>

#include <cstdint>

#include "int8/avx2_requantize.hpp"
#include "int8/kernels.hpp"
#include "int8/pool_windows.hpp"

namespace intrain::int8 {

namespace {

// Eight int32 lanes already within [0, 255] to eight bytes at p.
inline void store_codes8(uint8_t* p, __m256i v) {
  const __m128i words = _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_packus_epi16(words, words));
}

inline __m256i widen_codes8(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

}  // namespace

void requantize_channels_avx2(const int32_t* acc, int64_t channels, const ChannelRequant& rq, uint8_t* out) {
  const __m256i zp = _mm256_set1_epi32(rq.zero_point), lo = _mm256_set1_epi32(rq.lo), hi = _mm256_set1_epi32(rq.hi);
  int64_t c = 0;
  for (; c + 8 <= channels; c += 8) {
    auto load = [](const int32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); };
    store_codes8(out + c, requantize8(load(acc + c), load(rq.multiplier + c), load(rq.shift + c), zp, lo, hi));
  }
  if (c < channels) {
    const ChannelRequant rest{rq.multiplier + c, rq.shift + c, rq.zero_point, rq.lo, rq.hi};
    requantize_channels_reference(acc + c, channels - c, rest, out + c);
  }
}

void max_pool_nhwc_avx2(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t kernel,
                        int64_t stride, int64_t padding, int64_t out_w, int64_t oy_begin, int64_t oy_end,
                        uint8_t* out) {
  for_each_pool_window(height, width, channels, kernel, stride, padding, out_w, oy_begin, oy_end, out,
                       [=](const PoolWindow& win, uint8_t* y) {
                         int64_t c0 = 0;
                         for (; c0 + 32 <= channels; c0 += 32) {
                           __m256i best = _mm256_setzero_si256();
                           for (int64_t iy = win.ya; iy < win.yb; ++iy)
                             for (int64_t ix = win.xa; ix < win.xb; ++ix)
                               best = _mm256_max_epu8(best, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                                                                x + (iy * width + ix) * channels + c0)));
                           _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + c0), best);
                         }
                         for (int64_t c = c0; c < channels; ++c) {  // fewer than 32 channels left
                           uint8_t best = 0;
                           for (int64_t iy = win.ya; iy < win.yb; ++iy)
                             for (int64_t ix = win.xa; ix < win.xb; ++ix) {
                               const uint8_t v = x[(iy * width + ix) * channels + c];
                               best = v > best ? v : best;
                             }
                           y[c] = best;
                         }
                       });
}

void add_avx2(const uint8_t* a, const uint8_t* b, int64_t n, const AddParams& p, uint8_t* out) {
  const __m256i za = _mm256_set1_epi32(p.a_zero_point), zb = _mm256_set1_epi32(p.b_zero_point);
  const __m256i ma = _mm256_set1_epi32(p.multiplier[0]), sa = _mm256_set1_epi32(p.shift[0]);
  const __m256i mb = _mm256_set1_epi32(p.multiplier[1]), sb = _mm256_set1_epi32(p.shift[1]);
  const __m256i mo = _mm256_set1_epi32(p.multiplier[2]), so = _mm256_set1_epi32(p.shift[2]);
  const __m256i zero = _mm256_setzero_si256(), zp = _mm256_set1_epi32(p.zero_point);
  const __m256i lo = _mm256_set1_epi32(p.lo), hi = _mm256_set1_epi32(p.hi);
  // The two inputs' rescalings are not clamped (their sum is, after the third).
  const __m256i min = _mm256_set1_epi32(INT32_MIN);
  const __m256i max = _mm256_set1_epi32(INT32_MAX);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i xa = _mm256_slli_epi32(_mm256_sub_epi32(widen_codes8(a + i), za), 20);
    const __m256i xb = _mm256_slli_epi32(_mm256_sub_epi32(widen_codes8(b + i), zb), 20);
    const __m256i sum = _mm256_add_epi32(requantize8(xa, ma, sa, zero, min, max), requantize8(xb, mb, sb, zero, min, max));
    store_codes8(out + i, requantize8(sum, mo, so, zp, lo, hi));
  }
  if (i < n) add_reference(a + i, b + i, n - i, p, out + i);
}

}  // namespace intrain::int8
