// sgemm: OpenBLAS vs oneDNN vs the own AVX-512 kernel vs the routed choice, side by side,
// on square sizes and the shapes LeNet and MobileNet training produce.
#include <vector>

#include "bench/bench_util.hpp"
#include "core/generator.hpp"
#include "core/kernels/gemm.hpp"
#include "core/tensor.hpp"

using namespace intrain;
using namespace intrain::kernels;

namespace {

struct Shape3 {
  const char* name;
  bool ta, tb;
  int64_t m, n, k;
};

const std::vector<Shape3> kShapes = {
    {"square64", false, false, 64, 64, 64},
    {"square128", false, false, 128, 128, 128},
    {"square256", false, false, 256, 256, 256},
    {"square512", false, false, 512, 512, 512},
    {"square1024", false, false, 1024, 1024, 1024},
    {"lenet_fc1_fwd", false, true, 64, 500, 800},    // x·Wᵀ, batch 64
    {"lenet_fc1_dW", true, false, 500, 800, 64},     // gᵀ·x
    {"lenet_fc1_dX", false, false, 64, 800, 500},    // g·W
    {"lenet_fc2_fwd", false, true, 64, 10, 500},
    {"mbv1_pw_56x56", false, false, 3136, 128, 128},  // 1x1 conv as GEMM, 56x56x128
    {"mbv1_pw_7x7", false, false, 49, 1024, 1024},    // 1x1 conv, 7x7x1024
    {"mbv1_fc", false, true, 16, 1000, 1024},         // classifier, batch 16
    {"mbv1_fc_b1", false, true, 1, 1000, 1024},       // classifier, batch 1
    {"mbv1_fc_b128", false, true, 128, 1000, 1024},   // classifier, batch 128
    {"skinny_nn_16", false, false, 16, 1000, 1024},   // the same, weights pre-transposed
    {"lenet_fc1_fwd_b1", false, true, 1, 500, 800},   // inference, batch 1
};

void BM_sgemm(benchmark::State& state, GemmBackend backend, Shape3 sh, bool routed) {
  if (!gemm_backend_available(backend)) {
    state.SkipWithError("backend not available on this CPU");
    return;
  }
  Generator g(1);
  const int64_t lda = sh.ta ? sh.m : sh.k, ldb = sh.tb ? sh.k : sh.n;
  Tensor a = Tensor::randn({sh.ta ? sh.k : sh.m, lda}, g), b = Tensor::randn({sh.tb ? sh.n : sh.k, ldb}, g);
  Tensor c = Tensor::zeros({sh.m, sh.n});
  GemmShape s{sh.ta, sh.tb, sh.m, sh.n, sh.k, lda, ldb, sh.n};
  if (routed) backend = choose_gemm_backend(s);
  sgemm_with(backend, s, 1.0f, a.data<float>(), b.data<float>(), 0.0f, c.data<float>());  // warm up
  bench::LoopTimer timer;
  for (auto _ : state) {
    sgemm_with(backend, s, 1.0f, a.data<float>(), b.data<float>(), 0.0f, c.data<float>());
    benchmark::ClobberMemory();
  }
  bench::report_gflops(state, timer, 2.0 * sh.m * sh.n * sh.k);
  state.SetLabel(gemm_backend_name(backend));
}

int register_all() {
  for (const Shape3& sh : kShapes) {
    const std::string base = std::string("sgemm/") + sh.name;
    benchmark::RegisterBenchmark((base + "/openblas").c_str(), BM_sgemm, GemmBackend::openblas, sh, false);
    benchmark::RegisterBenchmark((base + "/onednn").c_str(), BM_sgemm, GemmBackend::onednn, sh, false);
    benchmark::RegisterBenchmark((base + "/own").c_str(), BM_sgemm, GemmBackend::own, sh, false);
    benchmark::RegisterBenchmark((base + "/routed").c_str(), BM_sgemm, GemmBackend::own, sh, true);
  }
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
