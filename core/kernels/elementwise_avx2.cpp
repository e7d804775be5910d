// AVX2 + FMA instantiation of the elementwise kernels. Compiled with -mavx2 -mfma; only
// reached through elementwise() when cpuid reports AVX2 and FMA.
#include <cmath>

#include "core/kernels/simd_avx2.hpp"

#define SIMD_NAMESPACE avx2
#include "core/kernels/elementwise_simd.inl"

namespace intrain::kernels {
const ElementwiseKernels& avx2_elementwise() {
  using namespace avx2;
  static const ElementwiseKernels table{Isa::avx2, binary, binary_scalar, scalar_binary, unary,
                                        clamp, mask_inside, axpy, sum, max};
  return table;
}
}  // namespace intrain::kernels
