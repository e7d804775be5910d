#include "core/cpu_features.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/error.hpp"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>

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

bool cpu_has_amx_int8() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool tile = (edx >> 24) & 1, int8 = (edx >> 25) & 1;
  if (!tile || !int8 || !__builtin_cpu_supports("avx512f")) return false;
  // XCR0 bits 17 (XTILECFG) and 18 (XTILEDATA): the OS manages the tile state.
  unsigned lo = 0, hi = 0;
  __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((lo >> 17) & 3) == 3;
}

bool cpu_has_bf16() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__builtin_cpu_supports("avx512f")) return false;
  if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && ((eax >> 5) & 1)) return true;  // AVX512_BF16
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return ((edx >> 22) & 1) && cpu_has_amx_int8();  // AMX-BF16, with the tile state the OS enables
}

bool amx_permitted() {
  static const bool permitted = [] {
    if (!cpu_has_amx_int8()) return false;
#if defined(__linux__) && defined(SYS_arch_prctl)
    constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    if (syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0) return true;
    std::fprintf(stderr, "intrain: the CPU has AMX but the kernel refused its tile state (arch_prctl); "
                         "int8 runs on AVX-512 VNNI\n");
#endif
    return false;
  }();
  return permitted;
}

}  // namespace intrain
