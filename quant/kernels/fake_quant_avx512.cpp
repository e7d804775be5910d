// AVX512 instantiation of the fake-quant kernels. Compiled with the AVX512 flags (quant/meson.build);
// only reached through fake_quant_kernels() when cpuid reports them.
#include "core/kernels/simd_avx512.hpp"

#define SIMD_NAMESPACE avx512
#include "quant/kernels/fake_quant_simd.inl"

namespace intrain::quant::kernels {
const FakeQuantKernels& avx512_fake_quant() {
  using namespace avx512;
  static const FakeQuantKernels table{Isa::avx512, affine, affine_backward, lsq, lsq_backward, pact, pact_backward};
  return table;
}
}  // namespace intrain::quant::kernels
