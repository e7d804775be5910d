// The plain scalar twin of the batch-norm kernels: double accumulation in index order, the
// accurate answer the SIMD tables are tested against, and the path without AVX2.
#include "core/kernels/batch_norm.hpp"

#include <algorithm>
#include <cmath>

namespace intrain::kernels {

namespace {

template <class F>
void for_each_value(ChannelRuns r, F&& f) {
  for (int64_t n = 0; n < r.runs; ++n)
    for (int64_t i = 0; i < r.len; ++i) f(n * r.stride + i);
}

double sum(const float* x, ChannelRuns r) {
  double s = 0;
  for_each_value(r, [&](int64_t k) { s += x[k]; });
  return s;
}

double square_sum(const float* x, ChannelRuns r, float shift) {
  double s = 0;
  for_each_value(r, [&](int64_t k) {
    const double d = static_cast<double>(x[k]) - shift;
    s += d * d;
  });
  return s;
}

void affine(const float* x, ChannelRuns r, float scale, float shift, float lo, float hi, float* y) {
  for_each_value(r, [&](int64_t k) {
    const float z = x[k] * scale + shift;
    y[k] = std::isnan(z) ? z : std::min(std::max(z, lo), hi);
  });
}

float masked(const float* g, ActivationMask mask, int64_t k) {
  return !mask.y || (mask.y[k] >= mask.lo && mask.y[k] <= mask.hi) ? g[k] : 0.0f;
}

void grad_sums(const float* g, const float* x, ActivationMask mask, ChannelRuns r, float mean, double* sum_g,
               double* sum_g_centred) {
  double sg = 0, sgx = 0;
  for_each_value(r, [&](int64_t k) {
    const float gk = masked(g, mask, k);
    sg += gk;
    sgx += static_cast<double>(gk) * (static_cast<double>(x[k]) - mean);
  });
  *sum_g = sg;
  *sum_g_centred = sgx;
}

void grad_input(const float* g, const float* x, ActivationMask mask, ChannelRuns r, float mean, float a, float b,
                float c, float* dx) {
  for_each_value(r, [&](int64_t k) { dx[k] = a * masked(g, mask, k) + b * (x[k] - mean) + c; });
}

}  // namespace

const BatchNormKernels& reference_batch_norm() {
  static const BatchNormKernels table{Isa::scalar, sum, square_sum, affine, grad_sums, grad_input};
  return table;
}

const BatchNormKernels& batch_norm_kernels() {
  switch (active_isa()) {
    case Isa::avx512: return avx512_batch_norm();
    case Isa::avx2: return avx2_batch_norm();
    case Isa::scalar: break;
  }
  return reference_batch_norm();
}

}  // namespace intrain::kernels
