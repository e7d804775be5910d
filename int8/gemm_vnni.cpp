// The VNNI micro-kernel: 16 output channels in the lanes of a zmm, up to 8 rows at a time;
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
