#include "core/kernels/gemm.hpp"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

#include <cstdlib>
#include <string>

#include "core/cpu_features.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"

namespace intrain::kernels {

namespace {

int parse_gemm_override() {
  const char* env = std::getenv("INTRAIN_GEMM");
  if (!env || !*env) return -1;
  std::string v = env;
  if (v == "reference") return static_cast<int>(GemmBackend::reference);
  if (v == "openblas") return static_cast<int>(GemmBackend::openblas);
  if (v == "onednn") return static_cast<int>(GemmBackend::onednn);
  if (v == "own") return static_cast<int>(GemmBackend::own);
  throw Error("INTRAIN_GEMM: expected reference, openblas, onednn or own, got '" + v + "'");
}

void check_shape(const GemmShape& s) {
  INTRAIN_CHECK(s.m >= 0 && s.n >= 0 && s.k >= 0, "sgemm: negative size M=", s.m, " N=", s.n, " K=", s.k);
  const int64_t a_cols = s.trans_a ? s.m : s.k, b_cols = s.trans_b ? s.k : s.n;
  INTRAIN_CHECK(s.lda >= std::max<int64_t>(1, a_cols) && s.ldb >= std::max<int64_t>(1, b_cols) &&
                    s.ldc >= std::max<int64_t>(1, s.n),
                "sgemm: leading dimensions lda=", s.lda, " ldb=", s.ldb, " ldc=", s.ldc,
                " too small for M=", s.m, " N=", s.n, " K=", s.k);
}

}  // namespace

const char* gemm_backend_name(GemmBackend backend) {
  switch (backend) {
    case GemmBackend::reference: return "reference";
    case GemmBackend::openblas: return "openblas";
    case GemmBackend::onednn: return "onednn";
    case GemmBackend::own: return "own-avx512";
  }
  return "?";
}

bool gemm_backend_available(GemmBackend backend) {
  return backend != GemmBackend::own || active_isa() == Isa::avx512;
}

GemmBackend choose_gemm_backend(const GemmShape& s) {
  static const int forced = parse_gemm_override();
  if (forced >= 0 && gemm_backend_available(static_cast<GemmBackend>(forced)))
    return static_cast<GemmBackend>(forced);
  // Routing measured by bench/bench_gemm on AVX-512 (Zen 5, 2 threads): oneDNN's jit sgemm
  // reaches ~90% of the FMA peak on most shapes and leads them, but falls to 20-45% when B
  // is transposed and K >= 1024 (classifier layers x·Wᵀ), where the own kernel (~75% of
  // peak) leads from M = 8 on. Debian's OpenBLAS picks an AVX2 kernel here (~45%) and
  // leads only that same case on CPUs without AVX-512.
  if (s.trans_b && s.k >= 1024 && s.m >= 8)
    return gemm_backend_available(GemmBackend::own) ? GemmBackend::own : GemmBackend::openblas;
  return GemmBackend::onednn;
}

void sgemm_reference(const GemmShape& s, float alpha, const float* a, const float* b, float beta,
                     float* c) {
  for (int64_t i = 0; i < s.m; ++i) {
    for (int64_t j = 0; j < s.n; ++j) {
      double acc = 0;  // double: the reference is the accurate answer
      for (int64_t p = 0; p < s.k; ++p) {
        float av = s.trans_a ? a[p * s.lda + i] : a[i * s.lda + p];
        float bv = s.trans_b ? b[j * s.ldb + p] : b[p * s.ldb + j];
        acc += static_cast<double>(av) * bv;
      }
      float& out = c[i * s.ldc + j];
      out = static_cast<float>(alpha * acc + (beta == 0.0f ? 0.0 : static_cast<double>(beta) * out));
    }
  }
}

void sgemm_with(GemmBackend backend, const GemmShape& s, float alpha, const float* a, const float* b,
                float beta, float* c) {
  check_shape(s);
  if (s.m == 0 || s.n == 0) return;
  if (s.k == 0) {  // an empty product: C = beta·C, which not every library handles
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t j = 0; j < s.n; ++j) c[i * s.ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * s.ldc + j];
    return;
  }
  // OpenBLAS follows the thread budget from before its first call (it spins up its own pool).
  static const bool openblas_follows = (follow_thread_budget([](int n) { openblas_set_num_threads(n); }), true);
  (void)openblas_follows;
  switch (backend) {
    case GemmBackend::reference:
      return sgemm_reference(s, alpha, a, b, beta, c);
    case GemmBackend::openblas:
      return cblas_sgemm(CblasRowMajor, s.trans_a ? CblasTrans : CblasNoTrans,
                         s.trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(s.m),
                         static_cast<blasint>(s.n), static_cast<blasint>(s.k), alpha, a,
                         static_cast<blasint>(s.lda), b, static_cast<blasint>(s.ldb), beta, c,
                         static_cast<blasint>(s.ldc));
    case GemmBackend::onednn: {
      dnnl_status_t st = dnnl_sgemm(s.trans_a ? 'T' : 'N', s.trans_b ? 'T' : 'N', s.m, s.n, s.k,
                                    alpha, a, s.lda, b, s.ldb, beta, c, s.ldc);
      INTRAIN_CHECK(st == dnnl_success, "sgemm: oneDNN failed with status ", static_cast<int>(st));
      return;
    }
    case GemmBackend::own:
      INTRAIN_CHECK(gemm_backend_available(GemmBackend::own), "sgemm: the own kernel needs AVX-512");
      return sgemm_own_avx512(s, alpha, a, b, beta, c);
  }
}

void sgemm(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c) {
  sgemm_with(choose_gemm_backend(s), s, alpha, a, b, beta, c);
}

}  // namespace intrain::kernels
