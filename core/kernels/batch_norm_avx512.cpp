// AVX-512 instantiation of the batch-norm kernels. Compiled with -mavx512f -mavx512dq (and bw, vl); only reached
// through batch_norm_kernels() when cpuid reports them.
#include "core/kernels/simd_avx512.hpp"

#define SIMD_NAMESPACE avx512
#include "core/kernels/batch_norm_simd.inl"

namespace intrain::kernels {
const BatchNormKernels& avx512_batch_norm() {
  using namespace avx512;
  static const BatchNormKernels table{Isa::avx512, sum, square_sum, affine, grad_sums, grad_input};
  return table;
}
}  // namespace intrain::kernels
