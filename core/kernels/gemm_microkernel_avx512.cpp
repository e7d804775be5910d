#include <immintrin.h>

#include "core/kernels/gemm_microkernel.hpp"

namespace intrain::kernels {

void gemm_microkernel_avx512(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                             float alpha, float beta, int mr, int nr) {
  __m512 acc[kGemmMR][2];
#pragma GCC unroll 12
  for (int i = 0; i < kGemmMR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 12
    for (int i = 0; i < kGemmMR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
    }
    a += kGemmMR;
    b += kGemmNR;
  }
  const __m512 av = _mm512_set1_ps(alpha), bv = _mm512_set1_ps(beta);
  const __mmask16 m0 = static_cast<__mmask16>(nr >= 16 ? 0xffff : (1u << nr) - 1);
  const __mmask16 m1 = static_cast<__mmask16>(nr >= 32 ? 0xffff : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
#pragma GCC unroll 12
  for (int i = 0; i < kGemmMR; ++i) {
    if (i >= mr) break;
    float* row = c + i * ldc;
    __m512 r0 = _mm512_mul_ps(av, acc[i][0]), r1 = _mm512_mul_ps(av, acc[i][1]);
    if (beta != 0.0f) {
      r0 = _mm512_fmadd_ps(bv, _mm512_maskz_loadu_ps(m0, row), r0);
      r1 = _mm512_fmadd_ps(bv, _mm512_maskz_loadu_ps(m1, row + 16), r1);
    }
    _mm512_mask_storeu_ps(row, m0, r0);
    _mm512_mask_storeu_ps(row + 16, m1, r1);
  }
}

}  // namespace intrain::kernels
