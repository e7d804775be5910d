// relu, relu6, clamp, sigmoid and tanh, forward and backward.
#include <cmath>

#include "core/autograd.hpp"
#include "core/kernels/elementwise.hpp"
#include "core/ops.hpp"
#include "core/ops/activation_bounds.hpp"
#include "core/ops/op_checks.hpp"

namespace intrain {

namespace {

using kernels::elementwise;

Tensor map_unary(const Tensor& x_in, const char* op, kernels::UnaryOp u) {
  detail::check_defined_f32(x_in, op, "input");
  Tensor x = x_in.contiguous();
  Tensor out = Tensor::uninitialized(x.shape());
  const float* px = x.data<float>();
  float* o = out.data<float>();
  detail::for_chunks(x.numel(), [&](int64_t s, int64_t e) { elementwise().unary(u, px + s, o + s, e - s); });
  return out;
}

// grad · [lo <= x <= hi]: the derivative of clamping x to [lo, hi].
Tensor pass_inside(const Tensor& g_in, const Tensor& x, float lo, float hi) {
  Tensor g = g_in.contiguous();
  Tensor out = Tensor::uninitialized(x.shape());
  const float *pg = g.data<float>(), *px = x.data<float>();
  float* o = out.data<float>();
  detail::for_chunks(x.numel(), [&](int64_t s, int64_t e) {
    elementwise().mask_inside(pg + s, px + s, lo, hi, o + s, e - s);
  });
  return out;
}

Tensor clamp_impl(const Tensor& x_in, float lo, float hi, const char* op, float grad_lo, float grad_hi) {
  detail::check_defined_f32(x_in, op, "input");
  INTRAIN_CHECK(!(lo > hi), op, ": lower bound ", lo, " exceeds upper bound ", hi);
  Tensor x = x_in.contiguous();
  Tensor out = Tensor::uninitialized(x.shape());
  const float* px = x.data<float>();
  float* o = out.data<float>();
  detail::for_chunks(x.numel(), [&](int64_t s, int64_t e) { elementwise().clamp(px + s, lo, hi, o + s, e - s); });
  Tensor xd = x.detach();
  return record(out, op, {x_in}, [xd, grad_lo, grad_hi](const Tensor& g) {
    return std::vector<Tensor>{pass_inside(g, xd, grad_lo, grad_hi)};
  });
}

}  // namespace

Tensor relu(const Tensor& x_in) {
  Tensor out = map_unary(x_in, "relu", kernels::UnaryOp::relu);
  Tensor xd = x_in.contiguous().detach();
  const detail::ActivationBounds b = detail::activation_bounds(kernels::ConvActivation::relu);
  return record(out, "relu", {x_in}, [xd, b](const Tensor& g) {
    return std::vector<Tensor>{pass_inside(g, xd, b.grad_lo, b.grad_hi)};
  });
}

// Gradient passes strictly inside (0, 6), as PyTorch's hardtanh.
Tensor relu6(const Tensor& x) {
  const detail::ActivationBounds b = detail::activation_bounds(kernels::ConvActivation::relu6);
  return clamp_impl(x, b.lo, b.hi, "relu6", b.grad_lo, b.grad_hi);
}

// Gradient passes on the closed interval [lo, hi], as PyTorch's clamp.
Tensor clamp(const Tensor& x, float lo, float hi) { return clamp_impl(x, lo, hi, "clamp", lo, hi); }

Tensor sigmoid(const Tensor& x) {
  Tensor out = map_unary(x, "sigmoid", kernels::UnaryOp::sigmoid);
  Tensor y = out.detach();
  return record(out, "sigmoid", {x}, [y](const Tensor& g) {
    return std::vector<Tensor>{mul(g, mul(y, add(neg(y), 1.0f)))};
  });
}

Tensor tanh(const Tensor& x) {
  Tensor out = map_unary(x, "tanh", kernels::UnaryOp::tanh);
  Tensor y = out.detach();
  return record(out, "tanh", {x}, [y](const Tensor& g) {
    return std::vector<Tensor>{mul(g, add(neg(mul(y, y)), 1.0f))};
  });
}

}  // namespace intrain
