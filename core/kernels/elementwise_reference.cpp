// The plain scalar twin of every elementwise kernel: the definition the SIMD paths are
// tested against, and the path taken on CPUs without AVX2.
#include <algorithm>
#include <cmath>

#include "core/kernels/elementwise.hpp"
#include "core/kernels/elementwise_scalar_ops.hpp"

namespace intrain::kernels {

namespace {

void binary(BinaryOp op, const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = apply_binary(op, a[i], b[i]);
}
void binary_scalar(BinaryOp op, const float* a, float s, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = apply_binary(op, a[i], s);
}
void scalar_binary(BinaryOp op, float s, const float* a, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = apply_binary(op, s, a[i]);
}
void unary(UnaryOp op, const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = apply_unary(op, x[i]);
}
void clamp(const float* x, float lo, float hi, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = std::isnan(x[i]) ? x[i] : std::min(std::max(x[i], lo), hi);
}
void mask_inside(const float* g, const float* x, float lo, float hi, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] >= lo && x[i] <= hi) ? g[i] : 0.0f;
}
void axpy(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}
float sum(const float* x, int64_t n) {
  double s = 0;  // double accumulation: the reference is the accurate answer
  for (int64_t i = 0; i < n; ++i) s += x[i];
  return static_cast<float>(s);
}
float max(const float* x, int64_t n) {
  float m = x[0];
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) return x[i];
    m = std::max(m, x[i]);
  }
  return m;
}

}  // namespace

const ElementwiseKernels& reference_elementwise() {
  static const ElementwiseKernels table{Isa::scalar, binary, binary_scalar, scalar_binary, unary,
                                        clamp, mask_inside, axpy, sum, max};
  return table;
}

const ElementwiseKernels& elementwise() {
  switch (active_isa()) {
    case Isa::avx512: return avx512_elementwise();
    case Isa::avx2: return avx2_elementwise();
    case Isa::scalar: break;
  }
  return reference_elementwise();
}

}  // namespace intrain::kernels
