// The one thread budget: read from INTRAIN_NUM_THREADS (meson runs this suite with 3),
// applied to OpenMP (own kernels, oneDNN) and OpenBLAS alike, and parallel_for's contract.
#include <doctest.h>
#include <omp.h>

#include <atomic>
#include <vector>

#include "core/error.hpp"
#include "core/kernels/gemm.hpp"
#include "core/threads.hpp"

extern "C" int openblas_get_num_threads();

using namespace intrain;

TEST_CASE("INTRAIN_NUM_THREADS sets the budget for every library") {
  CHECK(num_threads() == 3);
  CHECK(omp_get_max_threads() == 3);
  // OpenBLAS joins the budget from the first GEMM that may call it (the runtime part of
  // core names no BLAS symbol, so the int8 runtime links without OpenBLAS).
  const float one = 1;
  float c = 0;
  kernels::sgemm_with(kernels::GemmBackend::openblas, {.m = 1, .n = 1, .k = 1, .lda = 1, .ldb = 1, .ldc = 1}, 1, &one, &one, 0, &c);
  CHECK(c == 1);
  CHECK(openblas_get_num_threads() == 3);
  set_num_threads(2);
  CHECK(num_threads() == 2);
  CHECK(omp_get_max_threads() == 2);
  CHECK(openblas_get_num_threads() == 2);
  set_num_threads(3);
}

TEST_CASE("parallel_for covers the range exactly once, in chunks of at least the grain") {
  for (int64_t n : {1, 2, 3, 7, 100, 1001}) {
    for (int64_t grain : {1, 4, 64}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::atomic<int> chunks{0};
      parallel_for(n, grain, [&](int64_t begin, int64_t end) {
        CHECK(begin < end);
        ++chunks;
        for (int64_t i = begin; i < end; ++i) ++hits[static_cast<size_t>(i)];
      });
      for (auto& h : hits) CHECK(h.load() == 1);
      CHECK(chunks.load() <= std::max<int64_t>(1, std::min<int64_t>(num_threads(), (n + grain - 1) / grain)));
    }
  }
}

TEST_CASE("parallel_for nested inside a parallel region runs inline") {
  std::atomic<int> inner_calls{0};
  parallel_for(3, 1, [&](int64_t, int64_t) {
    parallel_for(100, 1, [&](int64_t begin, int64_t end) {
      CHECK(begin == 0);
      CHECK(end == 100);
      ++inner_calls;
    });
  });
  CHECK(inner_calls.load() == 3);
}

TEST_CASE("an exception inside parallel_for reaches the caller") {
  CHECK_THROWS_AS(parallel_for(1000, 1, [](int64_t begin, int64_t) {
                    if (begin > 0) throw Error("worker failed");
                  }),
                  Error);
}
