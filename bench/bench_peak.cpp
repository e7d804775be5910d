// The measured FMA and int8 peaks every other benchmark's peak% is relative to.
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

// The int8 units the int8 GEMMs' peak% refer to (bench_int8).
static void BM_int8_peak_per_core(benchmark::State& state, const char* unit) {
  for (auto _ : state) benchmark::DoNotOptimize(bench::peak_int8_gops_per_core(unit));
  const double peak = bench::peak_int8_gops_per_core(unit);
  if (peak == 0) state.SkipWithError("this CPU has no such unit");
  state.counters["GOP/s/core"] = peak;
}
BENCHMARK_CAPTURE(BM_int8_peak_per_core, vnni_vpdpbusd, "vnni")->Iterations(1);
BENCHMARK_CAPTURE(BM_int8_peak_per_core, amx_tdpbusd, "amx")->Iterations(1);
BENCHMARK_CAPTURE(BM_int8_peak_per_core, avx2_vpmaddwd, "avx2")->Iterations(1);

BENCHMARK_MAIN();
