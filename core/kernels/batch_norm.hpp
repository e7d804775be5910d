#pragma once
// Batch-normalization kernels over one channel of an NCHW tensor: the channel's values lie in
// `runs` runs (one per image) of `len` contiguous floats, `stride` floats apart. Sums come
// back in double (the statistics of a channel cover up to millions of values). Three tables:
// the plain scalar reference (also the fallback without AVX2), AVX2+FMA and AVX-512; tests
// compare the SIMD tables with the reference within float rounding; ops call
// batch_norm_kernels(), which picks by active_isa().
#include <cstdint>

#include "core/cpu_features.hpp"

namespace intrain::kernels {

struct ChannelRuns {
  int64_t runs = 1, len = 0, stride = 0;
  int64_t count() const { return runs * len; }
};

// With a ReLU or ReLU6 in the same op, what reaches the normalization in backward is the
// gradient where the op's output y lies inside [lo, hi] and 0 elsewhere; y null: no mask.
struct ActivationMask {
  const float* y = nullptr;
  float lo = 0, hi = 0;
};

struct BatchNormKernels {
  Isa isa;
  // Σ x, and Σ (x − shift)²: with the channel's mean as the shift the centred squares
  // (no cancellation), with 0 the plain squares that synchronized batch norm adds up.
  double (*sum)(const float* x, ChannelRuns r);
  double (*square_sum)(const float* x, ChannelRuns r, float shift);
  // y = min(max(x·scale + shift, lo), hi) (NaN stays NaN), y laid out in the same runs as x;
  // lo = −∞, hi = ∞ for none, 0 and ∞ for a ReLU, 0 and 6 for a ReLU6.
  void (*affine)(const float* x, ChannelRuns r, float scale, float shift, float lo, float hi, float* y);
  // Σ g' and Σ g'·(x − mean), g' the gradient g masked by `mask`; g, x and mask.y in the same runs.
  void (*grad_sums)(const float* g, const float* x, ActivationMask mask, ChannelRuns r, float mean, double* sum_g,
                    double* sum_g_centred);
  // dx = a·g' + b·(x − mean) + c
  void (*grad_input)(const float* g, const float* x, ActivationMask mask, ChannelRuns r, float mean, float a, float b,
                     float c, float* dx);
};

const BatchNormKernels& reference_batch_norm();
const BatchNormKernels& avx2_batch_norm();
const BatchNormKernels& avx512_batch_norm();
// The best table for active_isa().
const BatchNormKernels& batch_norm_kernels();

}  // namespace intrain::kernels
