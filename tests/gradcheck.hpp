#pragma once
// Finite-difference gradient checking for tests: compares autograd's gradient of
// L = Σ f(inputs) · probe (a fixed random probe, so every output element matters) with
// central differences of L computed in double.
#include <doctest.h>

#include <functional>
#include <vector>

#include "core/autograd.hpp"
#include "core/ops.hpp"

namespace intrain::testing {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

struct GradcheckOptions {
  float eps = 1e-2f;
  double rtol = 2e-2;
  double atol = 2e-3;
};

inline double probe_loss(const Tensor& out, const std::vector<float>& probe) {
  std::vector<float> v = out.to_vector<float>();
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += static_cast<double>(v[i]) * probe[i];
  return s;
}

inline void check_gradients(const Fn& f, std::vector<Tensor> inputs, GradcheckOptions opt = {}) {
  for (Tensor& t : inputs) t.set_requires_grad(true);
  Tensor out = f(inputs);
  Generator probe_gen(1234);
  std::vector<float> probe = Tensor::randn(out.shape(), probe_gen).to_vector<float>();
  sum(mul(out, Tensor::from_vector(probe, out.shape()))).backward();
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& input = inputs[k];
    REQUIRE_MESSAGE(input.grad().defined(), "no gradient reached input ", k);
    std::vector<float> analytic = input.grad().to_vector<float>();
    float* data = input.data<float>();
    for (int64_t i = 0; i < input.numel(); ++i) {
      const float saved = data[i];
      double plus, minus;
      {
        NoGradGuard no_grad;
        data[i] = saved + opt.eps;
        plus = probe_loss(f(inputs), probe);
        data[i] = saved - opt.eps;
        minus = probe_loss(f(inputs), probe);
      }
      data[i] = saved;
      const double numeric = (plus - minus) / (2.0 * opt.eps);
      const double a = analytic[static_cast<size_t>(i)];
      INFO("input ", k, " element ", i, ": analytic ", a, " numeric ", numeric);
      CHECK(std::abs(a - numeric) <= opt.atol + opt.rtol * std::abs(numeric));
    }
  }
}

// Random values at least `margin` away from every point in `kinks`, for ops that are not
// differentiable there (relu at 0, clamp at its bounds).
inline Tensor randn_avoiding(const Shape& shape, uint64_t seed, std::vector<float> kinks, float margin = 0.05f,
                             float scale = 2.0f) {
  Generator gen(seed);
  Tensor t = Tensor::randn(shape, gen, 0.0f, scale);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    for (float k : kinks)
      if (std::abs(p[i] - k) < margin) p[i] = k + (p[i] >= k ? margin : -margin) * 2;
  return t;
}

}  // namespace intrain::testing
