#pragma once
// The scalar definition of each elementwise op, shared by the reference kernels and by the
// ops' general (broadcasting, strided) loops.
#include <algorithm>
#include <cmath>

#include "core/kernels/elementwise.hpp"

namespace intrain::kernels {

inline float apply_binary(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
    case BinaryOp::max: return (std::isnan(a) || a > b) ? a : b;
    case BinaryOp::min: return (std::isnan(a) || a < b) ? a : b;
  }
  return 0;
}

// Written as two selects so compilers emit branch-free code (a data-dependent branch costs
// a misprediction per element on random signs). NaN passes through.
inline float relu_scalar(float x) {
  const float positive = x > 0.0f ? x : 0.0f;
  return x != x ? x : positive;
}

inline float apply_unary(UnaryOp op, float x) {
  switch (op) {
    case UnaryOp::neg: return -x;
    case UnaryOp::exp: return std::exp(x);
    case UnaryOp::log: return std::log(x);
    case UnaryOp::sqrt: return std::sqrt(x);
    case UnaryOp::relu: return relu_scalar(x);
    case UnaryOp::sigmoid: return 1.0f / (1.0f + std::exp(-x));
    case UnaryOp::tanh: return std::tanh(x);
    case UnaryOp::abs: return std::fabs(x);
  }
  return 0;
}

}  // namespace intrain::kernels
