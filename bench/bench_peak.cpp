// The measured FMA peak every other benchmark's peak% is relative to.
#include "bench/bench_util.hpp"
#include "core/cpu_features.hpp"
#include "core/threads.hpp"

using namespace intrain;

static void BM_fma_peak_per_core(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(bench::peak_gflops_per_core());
  state.counters["GFLOP/s/core"] = bench::peak_gflops_per_core();
  state.counters["threads"] = num_threads();
  state.SetLabel(std::string("isa=") + isa_name(detected_isa()));
}
BENCHMARK(BM_fma_peak_per_core)->Iterations(1);

BENCHMARK_MAIN();
