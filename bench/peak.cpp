#include "bench/peak.hpp"

#include <chrono>
#include <cstdint>
#include <string>

#include "core/cpu_features.hpp"
#include "core/threads.hpp"

namespace intrain::bench {

float fma_loop_avx512(int64_t iterations);
float fma_loop_avx2(int64_t iterations);
int32_t vnni_loop(int64_t iterations);
int32_t avx2_madd_loop(int64_t iterations);
int32_t amx_loop(int64_t iterations);

namespace {

// Best of a few timed runs: the least-disturbed run is the closest to the real peak.
template <typename Result>
double measure(Result (*loop)(int64_t), double flops_per_iteration, int64_t kIterations = 20'000'000) {
  double best = 0;
  volatile Result sink = 0;
  for (int run = 0; run < 5; ++run) {
    auto start = std::chrono::steady_clock::now();
    sink = sink + loop(kIterations);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, flops_per_iteration * kIterations / seconds / 1e9);
  }
  return best;
}

}  // namespace

double peak_gflops_per_core() {
  static const double peak = [] {
    if (detected_isa() == Isa::avx512) return measure(fma_loop_avx512, 16 * 16 * 2);
    if (detected_isa() == Isa::avx2) return measure(fma_loop_avx2, 12 * 8 * 2);
    return 0.0;
  }();
  return peak;
}

double peak_gflops() { return peak_gflops_per_core() * num_threads(); }

double peak_int8_gops_per_core(const char* unit) {
  static const double vnni = detected_isa() == Isa::avx512 && cpu_has_avx512_vnni()
                                 ? measure(vnni_loop, 16 * 64 * 2)
                                 : 0.0;
  static const double amx = amx_permitted() ? measure(amx_loop, 4 * 16 * 16 * 64 * 2, 2'000'000) : 0.0;
  static const double avx2 = detected_isa() >= Isa::avx2 ? measure(avx2_madd_loop, 12 * 16 * 2) : 0.0;
  const std::string u = unit;
  return u == "amx" ? amx : u == "vnni" ? vnni : u == "avx2" ? avx2 : 0.0;
}

}  // namespace intrain::bench
