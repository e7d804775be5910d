// Every GEMM backend against the double-accumulating reference, over odd shapes, both
// transposes, leading dimensions larger than the matrix, and alpha/beta.
#include <doctest.h>

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "core/generator.hpp"
#include "core/kernels/gemm.hpp"
#include "core/tensor.hpp"

using namespace intrain;
using namespace intrain::kernels;

namespace {

std::vector<float> random_values(int64_t n, uint64_t seed) {
  Generator g(seed);
  return Tensor::randn({std::max<int64_t>(n, 1)}, g).to_vector<float>();
}

}  // namespace

TEST_CASE("sgemm backends match the reference") {
  const std::vector<std::array<int64_t, 3>> shapes = {
      {1, 1, 1},   {1, 7, 3},    {5, 1, 9},    {13, 17, 19}, {12, 32, 256}, {25, 33, 257}, {64, 500, 800},
      {3, 100, 2}, {150, 70, 5}, {144, 64, 300}, {7, 31, 0},  {97, 129, 65},
  };
  for (GemmBackend backend : {GemmBackend::openblas, GemmBackend::onednn, GemmBackend::own}) {
    if (!gemm_backend_available(backend)) {
      MESSAGE("skipping ", std::string(gemm_backend_name(backend)), ": not available on this CPU");
      continue;
    }
    const std::string name = gemm_backend_name(backend);
    CAPTURE(name);
    for (auto [m, n, k] : shapes)
      for (int trans = 0; trans < 4; ++trans) {
        const bool ta = trans & 1, tb = trans & 2;
        CAPTURE(m);
        CAPTURE(n);
        CAPTURE(k);
        CAPTURE(ta);
        CAPTURE(tb);
        const int64_t pad = 3;  // leading dimensions wider than the matrices
        const int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        const auto a = random_values((ta ? k : m) * lda, 1), b = random_values((tb ? n : k) * ldb, 2);
        const auto c0 = random_values(m * ldc, 3);
        GemmShape s{ta, tb, m, n, k, lda, ldb, ldc};
        for (float beta : {0.0f, 0.5f}) {
          std::vector<float> got = c0, want = c0;
          if (beta == 0.0f) std::fill(got.begin(), got.end(), NAN);  // beta = 0 must not read C
          if (beta == 0.0f)
            for (int64_t i = 0; i < m; ++i)
              for (int64_t j = n; j < ldc; ++j) got[i * ldc + j] = want[i * ldc + j];
          sgemm_with(backend, s, 1.5f, a.data(), b.data(), beta, got.data());
          sgemm_reference(s, 1.5f, a.data(), b.data(), beta, want.data());
          double worst = 0;
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < ldc; ++j) {
              const double g = got[i * ldc + j], w = want[i * ldc + j];
              worst = std::max(worst, std::isnan(g) ? INFINITY : std::abs(g - w) / (1 + std::abs(w)));
            }
          CAPTURE(beta);
          CHECK(worst < 1e-4);
        }
      }
  }
}

TEST_CASE("sgemm routes every shape to an available backend") {
  for (int64_t size : {1, 8, 64, 512}) {
    GemmShape s{false, false, size, size, size, size, size, size};
    CHECK(gemm_backend_available(choose_gemm_backend(s)));
  }
}
