// Elementwise kernels written once over a SIMD vector type V and instantiated per ISA by
// elementwise_avx2.cpp and elementwise_avx512.cpp (each compiled with its own -m flags).
// V supplies: reg, mask, W, load, store, set1, add, sub, mul, div, fmadd, max, min
// (Intel semantics: max(a, b) returns b when either is NaN), sqrt, round_nearest,
// pow2i (2^n for integral-valued n in [-126, 127]), exponent_and_mantissa, lt, le, gt,
// is_nan, mask_or, mask_and, mask_andnot, select(m, if_false, if_true), reduce_add, any.
//
// exp, log and tanh follow the Cephes single-precision algorithms: range reduction plus
// a minimax polynomial, about 1-2 ulp from the libm result the reference uses.
#include <cstdint>
#include <cstring>

#include "core/kernels/elementwise.hpp"

namespace intrain::kernels {
namespace SIMD_NAMESPACE {

using reg = V::reg;
constexpr int W = V::W;

inline reg exp_v(reg x) {
  const reg hi = V::set1(88.0f), lo = V::set1(-87.33654f);
  // The NaN-propagating order: max(lo, x) and min(hi, .) return x when x is NaN.
  reg xc = V::min(hi, V::max(lo, x));
  reg n = V::round_nearest(V::mul(xc, V::set1(1.44269504088896341f)));
  reg r = V::fmadd(n, V::set1(-0.693359375f), xc);
  r = V::fmadd(n, V::set1(2.12194440e-4f), r);
  reg p = V::set1(1.9875691500e-4f);
  p = V::fmadd(p, r, V::set1(1.3981999507e-3f));
  p = V::fmadd(p, r, V::set1(8.3334519073e-3f));
  p = V::fmadd(p, r, V::set1(4.1665795894e-2f));
  p = V::fmadd(p, r, V::set1(1.6666665459e-1f));
  p = V::fmadd(p, r, V::set1(5.0000001201e-1f));
  reg y = V::add(V::fmadd(V::mul(p, r), r, r), V::set1(1.0f));
  y = V::mul(y, V::pow2i(n));
  y = V::select(V::gt(x, V::set1(88.72283935546875f)), y, V::set1(INFINITY));
  return V::select(V::lt(x, V::set1(-103.97208f)), y, V::set1(0.0f));
}

inline reg log_v(reg x) {
  reg e, m;  // x = m * 2^e with m in [0.5, 1)
  V::exponent_and_mantissa(V::max(V::set1(1.17549435e-38f), x), e, m);
  auto small = V::lt(m, V::set1(0.707106781186547524f));
  e = V::select(small, e, V::sub(e, V::set1(1.0f)));
  m = V::select(small, V::sub(m, V::set1(1.0f)), V::sub(V::add(m, m), V::set1(1.0f)));
  reg z = V::mul(m, m);
  reg p = V::set1(7.0376836292e-2f);
  p = V::fmadd(p, m, V::set1(-1.1514610310e-1f));
  p = V::fmadd(p, m, V::set1(1.1676998740e-1f));
  p = V::fmadd(p, m, V::set1(-1.2420140846e-1f));
  p = V::fmadd(p, m, V::set1(1.4249322787e-1f));
  p = V::fmadd(p, m, V::set1(-1.6668057665e-1f));
  p = V::fmadd(p, m, V::set1(2.0000714765e-1f));
  p = V::fmadd(p, m, V::set1(-2.4999993993e-1f));
  p = V::fmadd(p, m, V::set1(3.3333331174e-1f));
  reg y = V::mul(V::mul(p, m), z);
  y = V::fmadd(e, V::set1(-2.12194440e-4f), y);
  y = V::fmadd(z, V::set1(-0.5f), y);
  reg result = V::fmadd(e, V::set1(0.693359375f), V::add(m, y));
  // The edges libm defines: log(0) = -inf, log(x < 0) = NaN, log(inf) = inf, NaN stays.
  result = V::select(V::le(x, V::set1(0.0f)), result, V::set1(-INFINITY));
  result = V::select(V::lt(x, V::set1(0.0f)), result, V::set1(NAN));
  result = V::select(V::gt(x, V::set1(3.40282347e38f)), result, x);
  return V::select(V::is_nan(x), result, x);
}

inline reg sigmoid_v(reg x) {
  const reg one = V::set1(1.0f);
  return V::div(one, V::add(one, exp_v(V::sub(V::set1(0.0f), x))));
}

inline reg tanh_v(reg x) {
  const reg one = V::set1(1.0f);
  // Large |x|: 1 - 2 / (exp(2x) + 1); small |x| would cancel there, so Cephes' polynomial.
  reg large = V::sub(one, V::div(V::set1(2.0f), V::add(exp_v(V::add(x, x)), one)));
  reg z = V::mul(x, x);
  reg p = V::set1(-5.70498872745e-3f);
  p = V::fmadd(p, z, V::set1(2.06390887954e-2f));
  p = V::fmadd(p, z, V::set1(-5.37397544665e-2f));
  p = V::fmadd(p, z, V::set1(1.33314422036e-1f));
  p = V::fmadd(p, z, V::set1(-3.33332819422e-1f));
  reg small = V::fmadd(V::mul(p, z), x, x);
  reg abs_x = V::max(V::sub(V::set1(0.0f), x), x);
  return V::select(V::lt(abs_x, V::set1(0.625f)), large, small);
}

inline reg binary_v(BinaryOp op, reg a, reg b) {
  switch (op) {
    case BinaryOp::add: return V::add(a, b);
    case BinaryOp::sub: return V::sub(a, b);
    case BinaryOp::mul: return V::mul(a, b);
    case BinaryOp::div: return V::div(a, b);
    case BinaryOp::max: return V::select(V::is_nan(b), V::max(b, a), b);
    case BinaryOp::min: return V::select(V::is_nan(b), V::min(b, a), b);
  }
  return a;
}

inline reg unary_v(UnaryOp op, reg x) {
  switch (op) {
    case UnaryOp::neg: return V::sub(V::set1(0.0f), x);
    case UnaryOp::exp: return exp_v(x);
    case UnaryOp::log: return log_v(x);
    case UnaryOp::sqrt: return V::sqrt(x);
    case UnaryOp::relu: return V::max(V::set1(0.0f), x);
    case UnaryOp::sigmoid: return sigmoid_v(x);
    case UnaryOp::tanh: return tanh_v(x);
    case UnaryOp::abs: return V::max(V::sub(V::set1(0.0f), x), x);
  }
  return x;
}

// Applies f to whole vectors, then to the tail through a padded buffer so the tail goes
// through the very same arithmetic as the body.
template <int Inputs, class F>
inline void map(const float* const* in, float* out, int64_t n, F f) {
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    if constexpr (Inputs == 1) V::store(out + i, f(V::load(in[0] + i)));
    else V::store(out + i, f(V::load(in[0] + i), V::load(in[1] + i)));
  }
  if (i == n) return;
  alignas(64) float buffers[Inputs][W];
  alignas(64) float result[W];
  const auto rest = static_cast<size_t>(n - i);
  for (int k = 0; k < Inputs; ++k) {
    for (int j = 0; j < W; ++j) buffers[k][j] = 1.0f;  // a harmless value for log, div
    std::memcpy(buffers[k], in[k] + i, rest * sizeof(float));
  }
  if constexpr (Inputs == 1) V::store(result, f(V::load(buffers[0])));
  else V::store(result, f(V::load(buffers[0]), V::load(buffers[1])));
  std::memcpy(out + i, result, rest * sizeof(float));
}

void binary(BinaryOp op, const float* a, const float* b, float* out, int64_t n) {
  const float* in[2] = {a, b};
  map<2>(in, out, n, [op](reg x, reg y) { return binary_v(op, x, y); });
}

void binary_scalar(BinaryOp op, const float* a, float s, float* out, int64_t n) {
  const reg sv = V::set1(s);
  map<1>(&a, out, n, [op, sv](reg x) { return binary_v(op, x, sv); });
}

void scalar_binary(BinaryOp op, float s, const float* a, float* out, int64_t n) {
  const reg sv = V::set1(s);
  map<1>(&a, out, n, [op, sv](reg x) { return binary_v(op, sv, x); });
}

void unary(UnaryOp op, const float* x, float* out, int64_t n) {
  switch (op) {  // one instantiation per op keeps the switch out of the loop
    case UnaryOp::exp: return map<1>(&x, out, n, [](reg v) { return exp_v(v); });
    case UnaryOp::log: return map<1>(&x, out, n, [](reg v) { return log_v(v); });
    case UnaryOp::sigmoid: return map<1>(&x, out, n, [](reg v) { return sigmoid_v(v); });
    case UnaryOp::tanh: return map<1>(&x, out, n, [](reg v) { return tanh_v(v); });
    default: return map<1>(&x, out, n, [op](reg v) { return unary_v(op, v); });
  }
}

void clamp(const float* x, float lo, float hi, float* out, int64_t n) {
  const reg lv = V::set1(lo), hv = V::set1(hi);
  map<1>(&x, out, n, [lv, hv](reg v) { return V::min(hv, V::max(lv, v)); });
}

void mask_inside(const float* g, const float* x, float lo, float hi, float* out, int64_t n) {
  const reg lv = V::set1(lo), hv = V::set1(hi), zero = V::set1(0.0f);
  const float* in[2] = {g, x};
  map<2>(in, out, n, [=](reg gv, reg xv) {
    return V::select(V::mask_and(V::le(lv, xv), V::le(xv, hv)), zero, gv);
  });
}

void axpy(float alpha, const float* x, float* y, int64_t n) {
  const reg av = V::set1(alpha);
  const float* in[2] = {x, y};
  map<2>(in, y, n, [av](reg xv, reg yv) { return V::fmadd(av, xv, yv); });
}

float sum(const float* x, int64_t n) {
  // Four independent accumulators hide the add latency; the tail goes through a zero pad.
  reg acc[4] = {V::set1(0.0f), V::set1(0.0f), V::set1(0.0f), V::set1(0.0f)};
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W)
    for (int k = 0; k < 4; ++k) acc[k] = V::add(acc[k], V::load(x + i + k * W));
  for (; i + W <= n; i += W) acc[0] = V::add(acc[0], V::load(x + i));
  if (i < n) {
    alignas(64) float pad[W] = {};
    std::memcpy(pad, x + i, static_cast<size_t>(n - i) * sizeof(float));
    acc[1] = V::add(acc[1], V::load(pad));
  }
  return V::reduce_add(V::add(V::add(acc[0], acc[1]), V::add(acc[2], acc[3])));
}

float max(const float* x, int64_t n) {
  reg m = V::set1(x[0]);
  auto any_nan = V::lt(m, m);  // all false
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    reg v = V::load(x + i);
    any_nan = V::mask_or(any_nan, V::is_nan(v));
    m = V::max(m, v);
  }
  alignas(64) float lanes[W];
  V::store(lanes, m);
  float result = lanes[0];
  for (int j = 1; j < W; ++j) result = lanes[j] > result ? lanes[j] : result;
  for (; i < n; ++i) {
    if (x[i] != x[i]) return x[i];
    result = x[i] > result ? x[i] : result;
  }
  return V::any(any_nan) ? NAN : result;
}

}  // namespace SIMD_NAMESPACE
}  // namespace intrain::kernels
