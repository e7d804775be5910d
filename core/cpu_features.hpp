#pragma once
// Which SIMD instruction set the own kernels use, detected from cpuid at run time.
// INTRAIN_ISA=scalar|avx2|avx512 caps it (for testing fallbacks or comparing paths).
namespace intrain {

enum class Isa { scalar = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
Isa detected_isa();  // the best this CPU (and OS) supports
Isa active_isa();    // detected_isa(), capped by INTRAIN_ISA or set_isa_limit
void set_isa_limit(Isa limit);  // cap for the rest of the process; never raises past detected
bool cpu_has_avx512_vnni();
// AMX-INT8 tiles (TDPBUSD) reported by cpuid and enabled by the OS in XCR0.
bool cpu_has_amx_int8();
// bf16 dot products in hardware: AVX512-BF16 (Zen 4/5, Cooper Lake and later Xeons) or
// AMX-BF16 tiles; what mixed-precision training (core/compute_precision.hpp) asks for.
bool cpu_has_bf16();
// Linux grants the AMX tile state only on request (arch_prctl ARCH_REQ_XCOMP_PERM for
// XTILEDATA). Asks once per process; true when AMX may be used. When the CPU has AMX but
// the kernel refuses, says so in one line on stderr.
bool amx_permitted();

}  // namespace intrain
