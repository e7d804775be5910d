// AVX2 int8 GEMMs for CPUs without AVX-512 VNNI. vpmaddubsw would saturate its 16-bit sums
// (255·127·2 > 32767), so the bytes are widened to 16 bits and multiplied with vpmaddwd,
// which is exact; a horizontal add then joins the two halves of each 4-byte dot product.
// Bit-identical to the reference loops and to the VNNI kernels.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace intrain::int8 {

void conv_gemm_acc_avx2(const uint8_t* columns, int64_t pixels, int64_t pixels_padded, int64_t k_padded, int64_t out,
                        const int8_t* weights, const int32_t* bias, int32_t* acc);
void gemm_acc_avx2(const uint8_t* x, int64_t rows, int64_t k_padded, int64_t out, const int8_t* packed,
                   const int32_t* bias, int32_t* acc);

namespace {

// Four s8 weights repeated into sixteen s16 lanes: w0 w1 w2 w3 w0 w1 ...
inline __m256i widen_quad_s8(const int8_t* w) {
  int32_t four;
  std::memcpy(&four, w, 4);
  return _mm256_cvtepi8_epi16(_mm_set1_epi32(four));
}

inline __m256i widen_quad_u8(const uint8_t* x) {
  int32_t four;
  std::memcpy(&four, x, 4);
  return _mm256_cvtepu8_epi16(_mm_set1_epi32(four));
}

// hadd leaves lanes ordered [0 1 4 5 | 2 3 6 7]; this restores 0..7.
inline __m256i restore_order(__m256i v) { return _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7)); }

}  // namespace

// Pixels in the lanes: 8 pixels × 4 k-bytes per 32-byte load, 4 output channels at a time.
void conv_gemm_acc_avx2(const uint8_t* columns, int64_t pixels, int64_t pixels_padded, int64_t k_padded, int64_t out,
                        const int8_t* weights, const int32_t* bias, int32_t* acc) {
  constexpr int kChannels = 4;
  const int64_t groups = k_padded / 4;
  for (int64_t p0 = 0; p0 < pixels; p0 += 8) {
    const int64_t lanes = pixels - p0 < 8 ? pixels - p0 : 8;
    for (int64_t o0 = 0; o0 < out; o0 += kChannels) {
      const int count = static_cast<int>(out - o0 < kChannels ? out - o0 : kChannels);
      __m256i sums[kChannels];
      for (int r = 0; r < kChannels; ++r) sums[r] = _mm256_setzero_si256();
      for (int64_t g = 0; g < groups; ++g) {
        const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(columns + (g * pixels_padded + p0) * 4));
        const __m256i lo = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(bytes));       // pixels 0-3
        const __m256i hi = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(bytes, 1));  // pixels 4-7
        for (int r = 0; r < count; ++r) {
          const __m256i w = widen_quad_s8(weights + (o0 + r) * k_padded + g * 4);
          sums[r] = _mm256_add_epi32(sums[r], _mm256_hadd_epi32(_mm256_madd_epi16(lo, w), _mm256_madd_epi16(hi, w)));
        }
      }
      for (int r = 0; r < count; ++r) {
        alignas(32) int32_t lanes_out[8];
        _mm256_store_si256(reinterpret_cast<__m256i*>(lanes_out),
                           _mm256_add_epi32(restore_order(sums[r]), _mm256_set1_epi32(bias[o0 + r])));
        std::memcpy(acc + (o0 + r) * pixels + p0, lanes_out, static_cast<size_t>(lanes) * 4);
      }
    }
  }
}

// Output channels in the lanes, on PackedWeights' [16-channel block][k/4][16][4] layout:
// 8 channels (half a block, 32 bytes) per step, one row at a time.
void gemm_acc_avx2(const uint8_t* x, int64_t rows, int64_t k_padded, int64_t out, const int8_t* packed,
                   const int32_t* bias, int32_t* acc) {
  const int64_t groups = k_padded / 4;
  for (int64_t m = 0; m < rows; ++m)
    for (int64_t o0 = 0; o0 < out; o0 += 8) {
      const int8_t* block = packed + (o0 / 16) * groups * 64 + (o0 % 16) * 4;
      __m256i sum = _mm256_setzero_si256();
      for (int64_t g = 0; g < groups; ++g) {
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + g * 64));
        const __m256i xv = widen_quad_u8(x + m * k_padded + g * 4);
        const __m256i lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(w));       // channels 0-3
        const __m256i hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(w, 1));  // channels 4-7
        sum = _mm256_add_epi32(sum, _mm256_hadd_epi32(_mm256_madd_epi16(lo, xv), _mm256_madd_epi16(hi, xv)));
      }
      alignas(32) int32_t lanes_out[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(lanes_out), restore_order(sum));
      const int64_t count = out - o0 < 8 ? out - o0 : 8;
      for (int64_t j = 0; j < count; ++j) acc[m * out + o0 + j] = lanes_out[j] + bias[o0 + j];
    }
}

}  // namespace intrain::int8
