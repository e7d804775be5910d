// AVX-512 instantiation of the elementwise kernels. Compiled with -mavx512f -mavx512dq
// (and bw, vl); only reached through elementwise() when cpuid reports them.
#include <cmath>

#include "core/kernels/simd_avx512.hpp"

#define SIMD_NAMESPACE avx512
#include "core/kernels/elementwise_simd.inl"

namespace intrain::kernels {
const ElementwiseKernels& avx512_elementwise() {
  using namespace avx512;
  static const ElementwiseKernels table{Isa::avx512, binary, binary_scalar, scalar_binary, unary,
                                        clamp, mask_inside, axpy, sum, max};
  return table;
}
}  // namespace intrain::kernels
