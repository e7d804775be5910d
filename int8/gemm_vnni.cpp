// AVX-512 int8 kernels. The VNNI micro-kernel: 16 output channels in the lanes of a zmm, up to 8 rows at a time;
// each step broadcasts 4 activation bytes of a row and accumulates their products with
// 4 weights per lane (vpdpbusd). Exact int32 arithmetic, so it equals the reference loops.
#include <immintrin.h>

#include <cstring>

#include <cstdint>

namespace intrain::int8 {

void gemm_acc_vnni(const uint8_t* x, int64_t rows, int64_t k_padded, int64_t out, const int8_t* packed,
                   const int32_t* bias_ptr, int32_t* acc);

void gemm_acc_vnni(const uint8_t* x, int64_t rows, int64_t k_padded, int64_t out, const int8_t* packed,
                   const int32_t* bias_ptr, int32_t* acc) {
  constexpr int kRows = 8;
  const int64_t groups = k_padded / 4, blocks = (out + 15) / 16;
  for (int64_t m0 = 0; m0 < rows; m0 += kRows) {
    const int r_count = static_cast<int>(rows - m0 < kRows ? rows - m0 : kRows);
    for (int64_t b = 0; b < blocks; ++b) {
      __m512i sums[kRows];
      for (int r = 0; r < kRows; ++r) sums[r] = _mm512_setzero_si512();
      const int8_t* wb = packed + b * groups * 64;
      for (int64_t g = 0; g < groups; ++g) {
        const __m512i wv = _mm512_loadu_si512(wb + g * 64);
        for (int r = 0; r < r_count; ++r) {
          int32_t four;
          std::memcpy(&four, x + (m0 + r) * k_padded + g * 4, 4);
          sums[r] = _mm512_dpbusd_epi32(sums[r], _mm512_set1_epi32(four), wv);
        }
      }
      const int64_t lanes = out - b * 16 < 16 ? out - b * 16 : 16;
      const __mmask16 mask = static_cast<__mmask16>((1u << lanes) - 1);
      const __m512i bias = _mm512_maskz_loadu_epi32(mask, bias_ptr + b * 16);
      for (int r = 0; r < r_count; ++r)
        _mm512_mask_storeu_epi32(acc + (m0 + r) * out + b * 16, mask, _mm512_add_epi32(sums[r], bias));
    }
  }
}

}  // namespace intrain::int8

namespace intrain::int8 {

void requantize_row_reference(const int32_t* acc, int64_t n, int32_t multiplier, int32_t shift, int32_t zp,
                              int32_t lo, int32_t hi, uint8_t* out);

// The scalar steps of requantize(), 16 lanes at a time:
//  - the rounding doubling high multiply equals (a·b + 2^30) >> 31 (arithmetic) for every
//    a and b > 0, which is all the multipliers quantize_multiplier produces;
//  - the rounding right shift adds 1 when the remainder exceeds mask/2 (+1 for negatives).
// Channels that need a left shift (multipliers >= 1) take the scalar path.
void requantize_row_avx512(const int32_t* acc, int64_t n, int32_t multiplier, int32_t shift, int32_t zp, int32_t lo,
                           int32_t hi, uint8_t* out) {
  if (shift < 0 || multiplier <= 0) return requantize_row_reference(acc, n, multiplier, shift, zp, lo, hi, out);
  const __m512i m = _mm512_set1_epi64(multiplier);
  const __m512i round = _mm512_set1_epi64(int64_t{1} << 30);
  const __m512i mask = _mm512_set1_epi32(static_cast<int32_t>((int64_t{1} << shift) - 1));
  const __m512i half = _mm512_srai_epi32(mask, 1);
  const __m512i vzp = _mm512_set1_epi32(zp), vlo = _mm512_set1_epi32(lo), vhi = _mm512_set1_epi32(hi);
  const __m512i one = _mm512_set1_epi32(1), zero = _mm512_setzero_si512();
  const __m128i count = _mm_cvtsi32_si128(shift);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i x = _mm512_loadu_si512(acc + i);
    // 64-bit products of the even and the odd lanes.
    const __m512i even = _mm512_srai_epi64(_mm512_add_epi64(_mm512_mul_epi32(x, m), round), 31);
    const __m512i odd = _mm512_srai_epi64(_mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), m), round), 31);
    // Interleave the low 32 bits back: lane 2k from even, 2k+1 from odd.
    const __m512i high = _mm512_or_si512(_mm512_and_si512(even, _mm512_set1_epi64(0xffffffff)), _mm512_slli_epi64(odd, 32));
    const __m512i remainder = _mm512_and_si512(high, mask);
    const __mmask16 negative = _mm512_cmplt_epi32_mask(high, zero);
    const __m512i threshold = _mm512_mask_add_epi32(half, negative, half, one);
    const __mmask16 up = _mm512_cmpgt_epi32_mask(remainder, threshold);
    const __m512i shifted = _mm512_sra_epi32(high, count);
    __m512i v = _mm512_mask_add_epi32(shifted, up, shifted, one);
    v = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(v, vzp), vlo), vhi);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm512_cvtepi32_epi8(v));
  }
  requantize_row_reference(acc + i, n - i, multiplier, shift, zp, lo, hi, out + i);
}

}  // namespace intrain::int8

namespace intrain::int8 {

void conv_gemm_acc_vnni(const uint8_t* columns, int64_t pixels, int64_t pixels_padded, int64_t k_padded, int64_t out,
                        const int8_t* weights, const int32_t* bias, int32_t* acc);

// 16 pixels per zmm, 8 output channels at a time: each step loads 4 k-values of 16 pixels
// (64 bytes) once and multiplies them with the broadcast 4 weights of each channel.
void conv_gemm_acc_vnni(const uint8_t* columns, int64_t pixels, int64_t pixels_padded, int64_t k_padded, int64_t out,
                        const int8_t* weights, const int32_t* bias, int32_t* acc) {
  constexpr int kChannels = 8;
  const int64_t groups = k_padded / 4;
  for (int64_t p0 = 0; p0 < pixels; p0 += 16) {
    const int64_t lanes = pixels - p0 < 16 ? pixels - p0 : 16;
    const __mmask16 mask = static_cast<__mmask16>((1u << lanes) - 1);
    for (int64_t o0 = 0; o0 < out; o0 += kChannels) {
      const int count = static_cast<int>(out - o0 < kChannels ? out - o0 : kChannels);
      __m512i sums[kChannels];
      for (int r = 0; r < kChannels; ++r) sums[r] = _mm512_setzero_si512();
      for (int64_t g = 0; g < groups; ++g) {
        const __m512i xv = _mm512_loadu_si512(columns + (g * pixels_padded + p0) * 4);
        for (int r = 0; r < count; ++r) {
          int32_t four;
          std::memcpy(&four, weights + (o0 + r) * k_padded + g * 4, 4);
          sums[r] = _mm512_dpbusd_epi32(sums[r], xv, _mm512_set1_epi32(four));
        }
      }
      for (int r = 0; r < count; ++r)
        _mm512_mask_storeu_epi32(acc + (o0 + r) * pixels + p0, mask,
                                 _mm512_add_epi32(sums[r], _mm512_set1_epi32(bias[o0 + r])));
    }
  }
}

}  // namespace intrain::int8

namespace intrain::int8 {

void im2col_k4_avx512(const uint8_t* x, int64_t channels, int64_t height, int64_t width, int64_t kernel, int64_t stride,
                      int64_t padding, int64_t out_h, int64_t out_w, int32_t zp, int64_t k_padded,
                      int64_t pixels_padded, uint8_t* cols);

namespace {

// dst[4·i] = src[i] for i < n, leaving the other bytes: zero-extend 16 bytes into 16
// dwords, then store only each dword's low byte.
inline void spread_bytes_x4(const uint8_t* src, int64_t n, uint8_t* dst) {
  const __mmask64 low_bytes = 0x1111111111111111ULL;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_mask_storeu_epi8(dst + 4 * i, low_bytes,
                            _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  if (i < n) {
    const auto rest = static_cast<unsigned>(n - i);
    const __m128i tail = _mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << rest) - 1), src + i);
    _mm512_mask_storeu_epi8(dst + 4 * i, low_bytes & ((1ULL << (4 * rest)) - 1), _mm512_cvtepu8_epi32(tail));
  }
}

}  // namespace

void im2col_k4_avx512(const uint8_t* x, int64_t channels, int64_t height, int64_t width, int64_t kernel, int64_t stride,
                      int64_t padding, int64_t out_h, int64_t out_w, int32_t zp, int64_t k_padded,
                      int64_t pixels_padded, uint8_t* cols) {
  const auto pad = static_cast<uint8_t>(zp);
  const int64_t k_total = channels * kernel * kernel, pixels = out_h * out_w;
  if (padding > 0) {
    std::memset(cols, pad, static_cast<size_t>(k_padded * pixels_padded));
  } else {  // every in-range (k, pixel) gets written below: fill only the padded tails
    for (int64_t k = 0; k < k_padded; ++k) {
      uint8_t* row = cols + (k / 4) * pixels_padded * 4 + k % 4;
      for (int64_t p = k < k_total ? pixels : 0; p < pixels_padded; ++p) row[4 * p] = pad;
    }
  }
  int64_t k = 0;
  for (int64_t ic = 0; ic < channels; ++ic) {
    const uint8_t* plane = x + ic * height * width;
    for (int64_t ky = 0; ky < kernel; ++ky)
      for (int64_t kx = 0; kx < kernel; ++kx, ++k) {
        uint8_t* dst = cols + (k / 4) * pixels_padded * 4 + k % 4;
        for (int64_t oy = 0; oy < out_h; ++oy) {
          const int64_t iy = oy * stride - padding + ky;
          if (iy < 0 || iy >= height) continue;
          const uint8_t* src = plane + iy * width;
          uint8_t* d = dst + oy * out_w * 4;
          if (stride == 1) {  // the in-bounds pixels of the row read one contiguous run
            const int64_t lo = padding - kx > 0 ? padding - kx : 0;
            const int64_t hi = out_w < width + padding - kx ? out_w : width + padding - kx;
            if (hi > lo) spread_bytes_x4(src + lo - padding + kx, hi - lo, d + lo * 4);
            continue;
          }
          for (int64_t ox = 0; ox < out_w; ++ox) {
            const int64_t ix = ox * stride - padding + kx;
            if (ix >= 0 && ix < width) d[ox * 4] = src[ix];
          }
        }
      }
  }
}


void max_pool_2x2_avx512(const uint8_t* in, int64_t h, int64_t w, uint8_t* out) {
  // Rows pairwise: the larger byte of the two rows, then of each horizontal pair (the
  // 16-bit lane's high byte shifted onto its low byte), packed back to bytes.
  const int64_t oh = h / 2, ow = w / 2;
  for (int64_t oy = 0; oy < oh; ++oy) {
    const uint8_t* r0 = in + 2 * oy * w;
    const uint8_t* r1 = r0 + w;
    for (int64_t ox = 0; ox < ow; ox += 32) {
      const int64_t count = ow - ox < 32 ? ow - ox : 32;
      const __mmask64 load = count == 32 ? ~0ULL : (1ULL << (2 * count)) - 1;
      const __m512i v = _mm512_max_epu8(_mm512_maskz_loadu_epi8(load, r0 + 2 * ox), _mm512_maskz_loadu_epi8(load, r1 + 2 * ox));
      const __m512i pairs = _mm512_max_epu8(v, _mm512_srli_epi16(v, 8));
      const __m256i packed = _mm512_cvtepi16_epi8(_mm512_and_si512(pairs, _mm512_set1_epi16(0xff)));
      _mm256_mask_storeu_epi8(out + oy * ow + ox, static_cast<__mmask32>(count == 32 ? ~0u : (1u << count) - 1), packed);
    }
  }
}



void depthwise_acc_avx512(const uint8_t* plane, int64_t height, int64_t width, int64_t kernel, int64_t stride,
                          int64_t padding, int64_t out_h, int64_t out_w, int32_t zp, const int8_t* weights, int32_t bias,
                          int32_t* acc) {
  // Strides 1 and 2 (the ones networks use): masked byte loads never touch bytes outside
  // the row, and the masked-off lanes contribute nothing.
  const __m512i vzp = _mm512_set1_epi32(zp);
  for (int64_t oy = 0; oy < out_h; ++oy)
    for (int64_t ox0 = 0; ox0 < out_w; ox0 += 16) {
      const int64_t count = out_w - ox0 < 16 ? out_w - ox0 : 16;
      __m512i sum = _mm512_set1_epi32(bias);
      for (int64_t ky = 0; ky < kernel; ++ky) {
        const int64_t iy = oy * stride - padding + ky;
        if (iy < 0 || iy >= height) continue;
        const uint8_t* row = plane + iy * width;
        for (int64_t kx = 0; kx < kernel; ++kx) {
          const int64_t ix0 = ox0 * stride - padding + kx;  // input column of lane 0
          // Lanes whose column lies in [0, width), among the first `count`.
          __mmask16 inside = 0;
          for (int64_t l = 0; l < count; ++l) {
            const int64_t ix = ix0 + l * stride;
            inside |= static_cast<__mmask16>((ix >= 0 && ix < width) ? 1u << l : 0u);
          }
          if (!inside) continue;
          __m512i x;
          if (stride == 1) {
            x = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(inside, row + ix0));
          } else {  // stride 2: lane l reads byte 2l of a 32-byte window
            const __mmask32 bytes = static_cast<__mmask32>(_pdep_u32(inside, 0x55555555u));
            x = _mm512_and_si512(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi8(bytes, row + ix0)), _mm512_set1_epi32(0xff));
          }
          const __m512i centred = _mm512_maskz_sub_epi32(inside, x, vzp);
          sum = _mm512_add_epi32(sum, _mm512_mullo_epi32(centred, _mm512_set1_epi32(weights[ky * kernel + kx])));
        }
      }
      _mm512_mask_storeu_epi32(acc + oy * out_w + ox0, static_cast<__mmask16>((1u << count) - 1), sum);
    }
}

}  // namespace intrain::int8
