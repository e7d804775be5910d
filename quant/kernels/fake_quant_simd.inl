// The fake-quant kernels written once over a SIMD vector type V (core/kernels/simd_*.hpp)
// and instantiated per ISA by fake_quant_avx2.cpp and fake_quant_avx512.cpp. Each kernel
// runs whole vectors, then its last partial vector through a zero-padded copy on the stack,
// so the tail takes exactly the vector path (and no scalar libm call compiled with these
// flags can leak into baseline code). Clamps are written min(hi, max(lo, v)): with Intel's
// max/min returning the second operand on NaN, a NaN input stays NaN as in std::clamp.
#include <cstdint>

#include "quant/kernels/fake_quant_kernels.hpp"

namespace intrain::quant::kernels {
namespace SIMD_NAMESPACE {

using intrain::kernels::V;
using reg = V::reg;
constexpr int W = V::W;

// The zero-padded copies of a last partial vector.
struct Tail {
  float a[W], b[W], c[W];
};

inline reg clamp_v(reg v, reg lo, reg hi) { return V::min(hi, V::max(lo, v)); }

inline reg affine_v(reg x, const AffineGrid& g) {
  const reg s = V::set1(g.scale), z = V::set1(g.zero_point);
  const reg q = V::add(V::round_nearest(V::div(x, s)), z);
  return V::mul(s, V::sub(clamp_v(q, V::set1(g.qmin), V::set1(g.qmax)), z));
}

inline reg affine_backward_v(reg grad, reg x, const AffineGrid& g) {
  const reg q = V::add(V::round_nearest(V::div(x, V::set1(g.scale))), V::set1(g.zero_point));
  const auto inside = V::mask_and(V::le(V::set1(g.qmin), q), V::le(q, V::set1(g.qmax)));
  return V::select(inside, V::set1(0.0f), grad);
}

inline reg lsq_v(reg x, const LsqGrid& g) {
  const reg s = V::set1(g.step);
  return V::mul(V::round_nearest(clamp_v(V::div(x, s), V::set1(g.qmin), V::set1(g.qmax))), s);
}

// dx into `dx`, grad·∂out/∂s returned per lane.
inline reg lsq_backward_v(reg grad, reg x, const LsqGrid& g, reg& dx) {
  const reg v = V::div(x, V::set1(g.step)), qmin = V::set1(g.qmin), qmax = V::set1(g.qmax);
  const auto below = V::le(v, qmin), above = V::le(qmax, v);
  const auto outside = V::mask_or(below, above);
  dx = V::select(outside, grad, V::set1(0.0f));
  reg d = V::sub(V::round_nearest(v), v);
  d = V::select(below, d, qmin);  // below and above never hold together: qmin < qmax
  d = V::select(above, d, qmax);
  return V::mul(grad, d);
}

inline reg pact_v(reg x, const PactGrid& g) {
  const reg s = V::set1(g.scale);
  return V::mul(V::round_nearest(V::div(clamp_v(x, V::set1(0.0f), V::set1(g.alpha)), s)), s);
}

inline reg pact_backward_v(reg grad, reg x, const PactGrid& g, reg& dx) {
  const reg a = V::set1(g.alpha);
  const auto inside = V::mask_and(V::le(V::set1(0.0f), x), V::lt(x, a));
  dx = V::select(inside, V::set1(0.0f), grad);
  return V::select(V::le(a, x), V::set1(0.0f), grad);
}

inline void copy_in(float* to, const float* from, int64_t n) {
  for (int64_t i = 0; i < W; ++i) to[i] = i < n ? from[i] : 0.0f;
}
inline void copy_out(float* to, const float* from, int64_t n) {
  for (int64_t i = 0; i < n; ++i) to[i] = from[i];
}

void affine(const float* x, float* out, int64_t n, AffineGrid g) {
  int64_t i = 0;
  for (; i + W <= n; i += W) V::store(out + i, affine_v(V::load(x + i), g));
  if (i == n) return;
  Tail t;
  copy_in(t.a, x + i, n - i);
  V::store(t.b, affine_v(V::load(t.a), g));
  copy_out(out + i, t.b, n - i);
}

void affine_backward(const float* grad, const float* x, float* dx, int64_t n, AffineGrid g) {
  int64_t i = 0;
  for (; i + W <= n; i += W) V::store(dx + i, affine_backward_v(V::load(grad + i), V::load(x + i), g));
  if (i == n) return;
  Tail t;
  copy_in(t.a, grad + i, n - i);
  copy_in(t.b, x + i, n - i);
  V::store(t.c, affine_backward_v(V::load(t.a), V::load(t.b), g));
  copy_out(dx + i, t.c, n - i);
}

void lsq(const float* x, float* out, int64_t n, LsqGrid g) {
  int64_t i = 0;
  for (; i + W <= n; i += W) V::store(out + i, lsq_v(V::load(x + i), g));
  if (i == n) return;
  Tail t;
  copy_in(t.a, x + i, n - i);
  V::store(t.b, lsq_v(V::load(t.a), g));
  copy_out(out + i, t.b, n - i);
}

float lsq_backward(const float* grad, const float* x, float* dx, int64_t n, LsqGrid g) {
  reg sum = V::set1(0.0f), d;
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    sum = V::add(sum, lsq_backward_v(V::load(grad + i), V::load(x + i), g, d));
    V::store(dx + i, d);
  }
  if (i < n) {
    Tail t;
    copy_in(t.a, grad + i, n - i);  // padded gradients are 0, so the padding adds nothing
    copy_in(t.b, x + i, n - i);
    sum = V::add(sum, lsq_backward_v(V::load(t.a), V::load(t.b), g, d));
    V::store(t.c, d);
    copy_out(dx + i, t.c, n - i);
  }
  return V::reduce_add(sum);
}

void pact(const float* x, float* out, int64_t n, PactGrid g) {
  int64_t i = 0;
  for (; i + W <= n; i += W) V::store(out + i, pact_v(V::load(x + i), g));
  if (i == n) return;
  Tail t;
  copy_in(t.a, x + i, n - i);
  V::store(t.b, pact_v(V::load(t.a), g));
  copy_out(out + i, t.b, n - i);
}

float pact_backward(const float* grad, const float* x, float* dx, int64_t n, PactGrid g) {
  reg sum = V::set1(0.0f), d;
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    sum = V::add(sum, pact_backward_v(V::load(grad + i), V::load(x + i), g, d));
    V::store(dx + i, d);
  }
  if (i < n) {
    Tail t;
    copy_in(t.a, grad + i, n - i);
    copy_in(t.b, x + i, n - i);
    sum = V::add(sum, pact_backward_v(V::load(t.a), V::load(t.b), g, d));
    V::store(t.c, d);
    copy_out(dx + i, t.c, n - i);
  }
  return V::reduce_add(sum);
}

}  // namespace SIMD_NAMESPACE
}  // namespace intrain::quant::kernels
