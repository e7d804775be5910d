// AVX2 + FMA instantiation of the batch-norm kernels. Compiled with -mavx2 -mfma; only reached
// through batch_norm_kernels() when cpuid reports them.
#include "core/kernels/simd_avx2.hpp"

#define SIMD_NAMESPACE avx2
#include "core/kernels/batch_norm_simd.inl"

namespace intrain::kernels {
const BatchNormKernels& avx2_batch_norm() {
  using namespace avx2;
  static const BatchNormKernels table{Isa::avx2, sum, square_sum, affine, grad_sums, grad_input};
  return table;
}
}  // namespace intrain::kernels
