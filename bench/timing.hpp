#pragma once
// Wall-clock timing for the end-to-end benchmarks (the Google Benchmark programs time themselves).
#include <algorithm>
#include <chrono>
#include <functional>

namespace intrain::bench {

// Seconds per call: one warm-up call, then the best of `rounds` rounds of `iterations` calls.
inline double time_per_call(const std::function<void()>& call, int iterations, int rounds) {
  call();
  double best = 1e30;
  for (int round = 0; round < rounds; ++round) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iterations; ++i) call();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / iterations);
  }
  return best;
}

}  // namespace intrain::bench
