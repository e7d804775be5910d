// The batch-norm kernels written once over a SIMD vector type V (core/kernels/simd_*.hpp)
// and instantiated per ISA by batch_norm_avx2.cpp and batch_norm_avx512.cpp. Sums run in
// float within blocks of kBlock values, one accumulator per sum, and each block's total is
// added in double: a few float roundings per block, none growing with the channel's size.
// A run's last len % W values go one at a time, as in the reference: a padded vector cost
// six times the scalar loop on the 4-value runs of a network's last blocks (2x2 images).
#include <cstdint>

#include "core/kernels/batch_norm.hpp"

namespace intrain::kernels {
namespace SIMD_NAMESPACE {
namespace {

using reg = V::reg;
constexpr int W = V::W;
constexpr int64_t kBlock = 16 * W;

// No std:: templates here: an instantiation compiled with this file's -m flags could be the
// one the linker keeps for baseline code (see simd_avx2.hpp).
int64_t smaller(int64_t a, int64_t b) { return a < b ? a : b; }

// out[j] = Σ over the runs of what vector_term adds to acc[j] for each whole vector
// (vector_term(offset, acc)) and scalar_term adds to out[j] for each value past them
// (scalar_term(offset, out)).
template <int K, class VectorTerm, class ScalarTerm>
void block_sums(ChannelRuns r, VectorTerm&& vector_term, ScalarTerm&& scalar_term, double* out) {
  for (int j = 0; j < K; ++j) out[j] = 0;
  const int64_t whole = r.len - r.len % W;
  for (int64_t n = 0; n < r.runs; ++n) {
    const int64_t base = n * r.stride;
    for (int64_t i = 0; i < whole; i += kBlock) {
      const int64_t end = smaller(whole, i + kBlock);
      reg acc[K];
      for (int j = 0; j < K; ++j) acc[j] = V::set1(0.0f);
      for (int64_t k = i; k < end; k += W) vector_term(base + k, acc);
      for (int j = 0; j < K; ++j) out[j] += V::reduce_add(acc[j]);
    }
    for (int64_t k = whole; k < r.len; ++k) scalar_term(base + k, out);
  }
}

// vector_f(offset) for every whole vector of every run, scalar_f(offset) for the rest.
template <class VectorF, class ScalarF>
void for_each_value(ChannelRuns r, VectorF&& vector_f, ScalarF&& scalar_f) {
  const int64_t whole = r.len - r.len % W;
  for (int64_t n = 0; n < r.runs; ++n) {
    const int64_t base = n * r.stride;
    for (int64_t k = 0; k < whole; k += W) vector_f(base + k);
    for (int64_t k = whole; k < r.len; ++k) scalar_f(base + k);
  }
}

double sum(const float* x, ChannelRuns r) {
  double s;
  block_sums<1>(
      r, [&](int64_t k, reg* acc) { acc[0] = V::add(acc[0], V::load(x + k)); },
      [&](int64_t k, double* out) { out[0] += x[k]; }, &s);
  return s;
}

double square_sum(const float* x, ChannelRuns r, float shift) {
  const reg m = V::set1(shift);
  double s;
  block_sums<1>(
      r,
      [&](int64_t k, reg* acc) {
        const reg d = V::sub(V::load(x + k), m);
        acc[0] = V::fmadd(d, d, acc[0]);
      },
      [&](int64_t k, double* out) {
        const double d = static_cast<double>(x[k]) - shift;
        out[0] += d * d;
      },
      &s);
  return s;
}

void affine(const float* x, ChannelRuns r, float scale, float shift, float lo, float hi, float* y) {
  const reg a = V::set1(scale), b = V::set1(shift), lov = V::set1(lo), hiv = V::set1(hi);
  // max(lo, z) and min(hi, .) return z when it is NaN (V's max and min return the second).
  for_each_value(
      r, [&](int64_t k) { V::store(y + k, V::min(hiv, V::max(lov, V::fmadd(V::load(x + k), a, b)))); },
      [&](int64_t k) {
        const float z = x[k] * scale + shift;
        y[k] = z != z ? z : z < lo ? lo : z > hi ? hi : z;
      });
}

// The gradient at offset k, masked or not (kMasked: mask.y is set).
template <bool kMasked>
reg gradient(const float* g, ActivationMask mask, int64_t k) {
  const reg gv = V::load(g + k);
  if constexpr (!kMasked) return gv;
  const reg yv = V::load(mask.y + k);
  return V::select(V::mask_and(V::le(V::set1(mask.lo), yv), V::le(yv, V::set1(mask.hi))), V::set1(0.0f), gv);
}

float gradient_at(const float* g, ActivationMask mask, int64_t k) {
  return !mask.y || (mask.y[k] >= mask.lo && mask.y[k] <= mask.hi) ? g[k] : 0.0f;
}

template <bool kMasked>
void grad_sums_over(const float* g, const float* x, ActivationMask mask, ChannelRuns r, float mean, double* s) {
  const reg m = V::set1(mean);
  block_sums<2>(
      r,
      [&](int64_t k, reg* acc) {
        const reg gv = gradient<kMasked>(g, mask, k);
        acc[0] = V::add(acc[0], gv);
        acc[1] = V::fmadd(gv, V::sub(V::load(x + k), m), acc[1]);
      },
      [&](int64_t k, double* out) {
        const float gk = gradient_at(g, mask, k);
        out[0] += gk;
        out[1] += static_cast<double>(gk) * (static_cast<double>(x[k]) - mean);
      },
      s);
}

void grad_sums(const float* g, const float* x, ActivationMask mask, ChannelRuns r, float mean, double* sum_g,
               double* sum_g_centred) {
  double s[2];
  if (mask.y)
    grad_sums_over<true>(g, x, mask, r, mean, s);
  else
    grad_sums_over<false>(g, x, mask, r, mean, s);
  *sum_g = s[0];
  *sum_g_centred = s[1];
}

template <bool kMasked>
void grad_input_over(const float* g, const float* x, ActivationMask mask, ChannelRuns r, float mean, float a, float b,
                     float c, float* dx) {
  const reg m = V::set1(mean), av = V::set1(a), bv = V::set1(b), cv = V::set1(c);
  for_each_value(
      r,
      [&](int64_t k) {
        const reg centred = V::sub(V::load(x + k), m);
        V::store(dx + k, V::fmadd(av, gradient<kMasked>(g, mask, k), V::fmadd(bv, centred, cv)));
      },
      [&](int64_t k) { dx[k] = a * gradient_at(g, mask, k) + b * (x[k] - mean) + c; });
}

void grad_input(const float* g, const float* x, ActivationMask mask, ChannelRuns r, float mean, float a, float b,
                float c, float* dx) {
  if (mask.y)
    grad_input_over<true>(g, x, mask, r, mean, a, b, c, dx);
  else
    grad_input_over<false>(g, x, mask, r, mean, a, b, c, dx);
}

}  // namespace
}  // namespace SIMD_NAMESPACE
}  // namespace intrain::kernels
