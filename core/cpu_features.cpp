#include "core/cpu_features.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/error.hpp"

namespace intrain {

namespace {

Isa parse_isa_limit() {
  const char* env = std::getenv("INTRAIN_ISA");
  if (!env || !*env) return Isa::avx512;
  std::string v = env;
  if (v == "scalar") return Isa::scalar;
  if (v == "avx2") return Isa::avx2;
  if (v == "avx512") return Isa::avx512;
  throw Error("INTRAIN_ISA: expected scalar, avx2 or avx512, got '" + v + "'");
}

Isa& isa_limit() {
  static Isa limit = parse_isa_limit();
  return limit;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "?";
}

Isa detected_isa() {
  // __builtin_cpu_supports consults cpuid and, for AVX, that the OS saves the registers.
  static const Isa isa = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
      return Isa::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
    return Isa::scalar;
  }();
  return isa;
}

Isa active_isa() {
  return static_cast<Isa>(std::min(static_cast<int>(detected_isa()), static_cast<int>(isa_limit())));
}

void set_isa_limit(Isa limit) { isa_limit() = limit; }

bool cpu_has_avx512_vnni() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512vnni");
}

}  // namespace intrain
