#pragma once
// The machine's measured compute peak, so benchmarks can report the fraction of it they
// reach. Measured in-process with a loop of independent FMAs (no memory traffic).
namespace intrain::bench {

// f32 GFLOP/s of one core running the widest FMA the CPU has (AVX-512, else AVX2).
double peak_gflops_per_core();
// peak_gflops_per_core() × the thread budget.
double peak_gflops();
// Int8 GOP/s (2 per multiply-add) of one core: "vnni" (vpdpbusd), "amx" (TDPBUSD tiles) or
// "avx2" (vpmaddwd on widened bytes, the exact AVX2 path);
// 0 where this CPU has no such unit (or, for AMX, the kernel refused it).
double peak_int8_gops_per_core(const char* unit);

}  // namespace intrain::bench
