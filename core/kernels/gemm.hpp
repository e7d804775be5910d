#pragma once
// Single-precision GEMM, row-major: C[M,N] = alpha * op(A) * op(B) + beta * C, where op
// transposes when asked (A is M×K after op, B is K×N). With beta == 0, C is not read.
//
// Four implementations: the plain reference loop (the twin tests compare against),
// OpenBLAS, oneDNN's sgemm and an own AVX-512 kernel. sgemm() routes each call to the
// backend that measured fastest for its shape on this kind of machine (see bench/);
// INTRAIN_GEMM=reference|openblas|onednn|own forces one.
#include <cstdint>

namespace intrain::kernels {

enum class GemmBackend { reference, openblas, onednn, own };

struct GemmShape {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
};

const char* gemm_backend_name(GemmBackend backend);
// The backend sgemm() would use for this shape (after any INTRAIN_GEMM override).
GemmBackend choose_gemm_backend(const GemmShape& s);
bool gemm_backend_available(GemmBackend backend);  // own needs AVX-512

void sgemm(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c);
void sgemm_with(GemmBackend backend, const GemmShape& s, float alpha, const float* a,
                const float* b, float beta, float* c);

// Individual backends (sgemm_with dispatches to these).
void sgemm_reference(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c);
void sgemm_own_avx512(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c);

}  // namespace intrain::kernels
