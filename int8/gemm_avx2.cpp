// The AVX2 int8 GEMM for CPUs without AVX-512 VNNI. vpmaddubsw would saturate its 16-bit
// sums (255·127·2 > 32767), so the bytes are widened to 16 bits and multiplied with
// vpmaddwd, which is exact; a horizontal add then joins the two halves of each 4-byte dot
// product. Bit-identical to the reference loops and to the VNNI kernel.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "int8/kernels.hpp"

namespace intrain::int8 {

namespace {

inline __m256i widen_quad_u8(const uint8_t* x) {
  int32_t four;
  std::memcpy(&four, x, 4);
  return _mm256_cvtepu8_epi16(_mm_set1_epi32(four));
}

// hadd leaves lanes ordered [0 1 4 5 | 2 3 6 7]; this restores 0..7.
inline __m256i restore_order(__m256i v) { return _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7)); }

}  // namespace

// Output channels in the lanes, on PackedWeights' [16-channel block][k/4][16][4] layout:
// 8 channels (half a block, 32 bytes) per step, one row at a time.
void gemm_avx2(const uint8_t* x, int64_t rows, int64_t lda, int64_t k_padded, int64_t out, const int8_t* packed,
               const int32_t* bias, int64_t oc_begin, int64_t oc_end, const GemmOutput& output) {
  const int64_t groups = k_padded / 4;
  for (int64_t m = 0; m < rows; ++m)
    for (int64_t o0 = oc_begin; o0 < oc_end; o0 += 8) {
      const int8_t* block = packed + (o0 / 16) * groups * 64 + (o0 % 16) * 4;
      __m256i sum = _mm256_setzero_si256();
      for (int64_t g = 0; g < groups; ++g) {
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + g * 64));
        const __m256i xv = widen_quad_u8(x + m * lda + g * 4);
        const __m256i lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(w));       // channels 0-3
        const __m256i hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(w, 1));  // channels 4-7
        sum = _mm256_add_epi32(sum, _mm256_hadd_epi32(_mm256_madd_epi16(lo, xv), _mm256_madd_epi16(hi, xv)));
      }
      alignas(32) int32_t lanes[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), restore_order(sum));
      const int64_t count = oc_end - o0 < 8 ? oc_end - o0 : 8;
      for (int64_t j = 0; j < count; ++j) lanes[j] += bias[o0 + j];
      if (output.codes) {
        ChannelRequant rq = output.requant;
        rq.multiplier += o0;
        rq.shift += o0;
        requantize_channels_reference(lanes, count, rq, output.codes + m * output.ld + o0);
      } else {
        std::memcpy(output.acc + m * output.ld + o0, lanes, static_cast<size_t>(count) * 4);
      }
    }
}

}  // namespace intrain::int8
