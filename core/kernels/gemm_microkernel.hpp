#pragma once
// The register-blocked core of the own GEMM: C[mr×nr] = alpha * Apanel·Bpanel + beta * C
// for packed panels (A: kc×MR, k-major; B: kc×NR, k-major). Lives in its own translation
// unit compiled for AVX-512 so no other code picks up AVX-512 instructions.
#include <cstdint>

namespace intrain::kernels {

constexpr int kGemmMR = 12;  // rows of C per micro-tile: 12×2 zmm accumulators
constexpr int kGemmNR = 32;  // columns of C per micro-tile: two 16-float vectors

// mr <= kGemmMR, nr <= kGemmNR; with beta == 0 C is not read.
void gemm_microkernel_avx512(int64_t kc, const float* a_panel, const float* b_panel, float* c,
                             int64_t ldc, float alpha, float beta, int mr, int nr);

}  // namespace intrain::kernels
