#pragma once
// Elementwise and reduction kernels on contiguous f32 arrays: raw pointers and lengths in,
// results out. Three implementations share this table: the plain scalar reference (also
// the fallback on CPUs without AVX2), AVX2+FMA and AVX-512. Tests compare the SIMD tables
// with the reference on odd lengths; ops call elementwise() which picks by cpuid.
#include <cstdint>

#include "core/cpu_features.hpp"

namespace intrain::kernels {

enum class BinaryOp { add, sub, mul, div, max, min };
enum class UnaryOp { neg, exp, log, sqrt, relu, sigmoid, tanh, abs };

struct ElementwiseKernels {
  Isa isa;
  // out[i] = a[i] op b[i]
  void (*binary)(BinaryOp op, const float* a, const float* b, float* out, int64_t n);
  // out[i] = a[i] op s
  void (*binary_scalar)(BinaryOp op, const float* a, float s, float* out, int64_t n);
  // out[i] = s op a[i]
  void (*scalar_binary)(BinaryOp op, float s, const float* a, float* out, int64_t n);
  void (*unary)(UnaryOp op, const float* x, float* out, int64_t n);
  // out[i] = min(max(x[i], lo), hi); NaN stays NaN
  void (*clamp)(const float* x, float lo, float hi, float* out, int64_t n);
  // out[i] = inside(x[i]) ? g[i] : 0 with inside = lo <= x <= hi (gradient of clamp/relu)
  void (*mask_inside)(const float* g, const float* x, float lo, float hi, float* out, int64_t n);
  // y[i] += alpha * x[i]
  void (*axpy)(float alpha, const float* x, float* y, int64_t n);
  float (*sum)(const float* x, int64_t n);
  float (*max)(const float* x, int64_t n);  // n >= 1; NaN if any element is NaN
};

const ElementwiseKernels& reference_elementwise();
const ElementwiseKernels& avx2_elementwise();
const ElementwiseKernels& avx512_elementwise();
// The best table for active_isa().
const ElementwiseKernels& elementwise();

}  // namespace intrain::kernels
