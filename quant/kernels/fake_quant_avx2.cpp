// AVX2 instantiation of the fake-quant kernels. Compiled with the AVX2 flags (quant/meson.build);
// only reached through fake_quant_kernels() when cpuid reports them.
#include "core/kernels/simd_avx2.hpp"

#define SIMD_NAMESPACE avx2
#include "quant/kernels/fake_quant_simd.inl"

namespace intrain::quant::kernels {
const FakeQuantKernels& avx2_fake_quant() {
  using namespace avx2;
  static const FakeQuantKernels table{Isa::avx2, affine, affine_backward, lsq, lsq_backward, pact, pact_backward};
  return table;
}
}  // namespace intrain::quant::kernels
