// The plain scalar definition of every fake-quant kernel (docs/quantization.md §2-3): the
// twin the vector tables are tested against, and the table on CPUs without AVX2.
#include <algorithm>
#include <cmath>

#include "quant/kernels/fake_quant_kernels.hpp"
#include "quant/quant_math.hpp"

namespace intrain::quant::kernels {
namespace {

void affine(const float* x, float* out, int64_t n, AffineGrid g) {
  for (int64_t i = 0; i < n; ++i) {
    const float q = round_half_even(x[i] / g.scale) + g.zero_point;
    out[i] = g.scale * (std::clamp(q, g.qmin, g.qmax) - g.zero_point);
  }
}

void affine_backward(const float* grad, const float* x, float* dx, int64_t n, AffineGrid g) {
  for (int64_t i = 0; i < n; ++i) {
    const float q = round_half_even(x[i] / g.scale) + g.zero_point;
    dx[i] = (q >= g.qmin && q <= g.qmax) ? grad[i] : 0.0f;
  }
}

void lsq(const float* x, float* out, int64_t n, LsqGrid g) {
  for (int64_t i = 0; i < n; ++i) out[i] = round_half_even(std::clamp(x[i] / g.step, g.qmin, g.qmax)) * g.step;
}

float lsq_backward(const float* grad, const float* x, float* dx, int64_t n, LsqGrid g) {
  double step_grad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i] / g.step;
    float d;
    if (v <= g.qmin) {
      dx[i] = 0.0f;
      d = g.qmin;
    } else if (v >= g.qmax) {
      dx[i] = 0.0f;
      d = g.qmax;
    } else {
      dx[i] = grad[i];
      d = round_half_even(v) - v;
    }
    step_grad += static_cast<double>(grad[i] * d);
  }
  return static_cast<float>(step_grad);
}

void pact(const float* x, float* out, int64_t n, PactGrid g) {
  for (int64_t i = 0; i < n; ++i) out[i] = round_half_even(std::clamp(x[i], 0.0f, g.alpha) / g.scale) * g.scale;
}

float pact_backward(const float* grad, const float* x, float* dx, int64_t n, PactGrid g) {
  double alpha_grad = 0;
  for (int64_t i = 0; i < n; ++i) {
    dx[i] = (x[i] >= 0.0f && x[i] < g.alpha) ? grad[i] : 0.0f;
    if (x[i] >= g.alpha) alpha_grad += grad[i];
  }
  return static_cast<float>(alpha_grad);
}

}  // namespace

const FakeQuantKernels& reference_fake_quant() {
  static const FakeQuantKernels table{Isa::scalar, affine, affine_backward, lsq, lsq_backward, pact, pact_backward};
  return table;
}

const FakeQuantKernels& fake_quant_kernels() {
  switch (active_isa()) {
    case Isa::avx512: return avx512_fake_quant();
    case Isa::avx2: return avx2_fake_quant();
    case Isa::scalar: break;
  }
  return reference_fake_quant();
}

}  // namespace intrain::quant::kernels
