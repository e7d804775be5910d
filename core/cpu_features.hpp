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

}  // namespace intrain
