#pragma once
// Shared bits of the benchmark programs: GFLOP/s, GB/s and fraction-of-peak counters,
// timed over the benchmark loop itself.
#include <benchmark/benchmark.h>

#include <chrono>

#include "bench/peak.hpp"

namespace intrain::bench {

class LoopTimer {
 public:
  LoopTimer() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

 private:
  std::chrono::steady_clock::time_point start_;
};

// Compute-bound kernels: GFLOP/s and the percentage of the measured FMA peak.
inline void report_gflops(benchmark::State& state, const LoopTimer& timer, double flops_per_iteration) {
  const double gflops = flops_per_iteration * static_cast<double>(state.iterations()) / timer.seconds() / 1e9;
  state.counters["GFLOP/s"] = gflops;
  if (peak_gflops() > 0) state.counters["peak%"] = 100.0 * gflops / peak_gflops();
}

// Memory-bound kernels: GB/s of bytes read plus written.
inline void report_gbytes(benchmark::State& state, const LoopTimer& timer, double bytes_per_iteration) {
  state.counters["GB/s"] = bytes_per_iteration * static_cast<double>(state.iterations()) / timer.seconds() / 1e9;
}

}  // namespace intrain::bench
