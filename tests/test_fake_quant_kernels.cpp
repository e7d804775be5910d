// The fake-quant kernel tables (quant/kernels/) against the scalar reference, on every
// table this CPU runs: outputs and input gradients bit for bit, the parameter-gradient sums
// within a summation-order tolerance; and the ops of quant/fake_quant.hpp, which cut
// tensors into per-channel runs, against a per-element definition that finds each
// element's channel by division.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/autograd.hpp"
#include "core/generator.hpp"
#include "core/ops.hpp"
#include "core/threads.hpp"
#include "quant/fake_quant.hpp"
#include "quant/kernels/fake_quant_kernels.hpp"
#include "quant/quant_math.hpp"

using namespace intrain;
using namespace intrain::quant;
namespace qk = intrain::quant::kernels;

namespace {

std::vector<const qk::FakeQuantKernels*> runnable_tables() {
  std::vector<const qk::FakeQuantKernels*> tables;
  if (detected_isa() >= Isa::avx2) tables.push_back(&qk::avx2_fake_quant());
  if (detected_isa() >= Isa::avx512) tables.push_back(&qk::avx512_fake_quant());
  if (tables.empty()) MESSAGE("no AVX2 or AVX-512 on this CPU: only the reference fake-quant table runs");
  return tables;
}

// Values that probe every branch: random ones over several ranges, exact half-way points
// of the grid (round half to even), the grid's edges, zero of both signs, infinities, NaN.
std::vector<float> probe_values(int64_t n, float step, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> wide(-300.0f * step, 300.0f * step);
  std::uniform_int_distribution<int> k(-260, 260), pick(0, 9);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) {
    switch (pick(rng)) {
      case 0: x = (static_cast<float>(k(rng)) + 0.5f) * step; break;
      case 1: x = static_cast<float>(k(rng)) * step; break;
      case 2: x = std::numeric_limits<float>::quiet_NaN(); break;
      case 3: x = (pick(rng) & 1) ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity(); break;
      case 4: x = (pick(rng) & 1) ? 0.0f : -0.0f; break;
      default: x = wide(rng);
    }
  }
  return v;
}

// Same bits, or both NaN (the payload of a NaN is not part of the definition).
bool same(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  uint32_t ua, ub;
  std::memcpy(&ua, &a, 4);
  std::memcpy(&ub, &b, 4);
  return ua == ub;
}

int64_t mismatches(const std::vector<float>& a, const std::vector<float>& b) {
  int64_t bad = 0;
  for (size_t i = 0; i < a.size(); ++i) bad += same(a[i], b[i]) ? 0 : 1;
  return bad;
}

// Sums compared within a bound on the rounding of any summation order: n·eps·Σ|terms|.
void check_sum(float got, float want, const std::vector<float>& grad, float per_term_bound) {
  if (std::isnan(want)) {
    CHECK(std::isnan(got));
    return;
  }
  double magnitude = 0;
  for (float g : grad) magnitude += std::fabs(g) * per_term_bound;
  CHECK(std::fabs(got - want) <= 1e-6 * static_cast<double>(grad.size()) * magnitude + 1e-6);
}

Tensor randn_seeded(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return Tensor::randn(shape, gen);
}

const int64_t kLengths[] = {0, 1, 7, 8, 15, 16, 17, 31, 33, 100, 1000};

}  // namespace

TEST_CASE("fake-quant kernel tables match the reference bit for bit (outputs, input gradients)") {
  const auto& ref = qk::reference_fake_quant();
  for (const auto* table : runnable_tables()) {
    CAPTURE(isa_name(table->isa));
    for (int64_t n : kLengths) {
      CAPTURE(n);
      const float step = 0.037f;
      std::vector<float> x = probe_values(n, step, 11 + static_cast<uint32_t>(n));
      std::vector<float> g = probe_values(n, 1.0f, 97 + static_cast<uint32_t>(n));
      for (auto& v : g) v = std::isfinite(v) ? v : 0.5f;  // gradients are finite
      std::vector<float> a(x.size()), b(x.size()), da(x.size()), db(x.size());

      for (const qk::AffineGrid grid : {qk::AffineGrid{step, 0.0f, -128.0f, 127.0f}, qk::AffineGrid{step, 3.0f, 0.0f, 15.0f},
                                        qk::AffineGrid{step, -1.0f, -2.0f, 1.0f}}) {
        ref.affine(x.data(), a.data(), n, grid);
        table->affine(x.data(), b.data(), n, grid);
        CHECK(mismatches(a, b) == 0);
        ref.affine_backward(g.data(), x.data(), da.data(), n, grid);
        table->affine_backward(g.data(), x.data(), db.data(), n, grid);
        CHECK(mismatches(da, db) == 0);
      }
      const qk::LsqGrid lsq{step, -8.0f, 7.0f};
      ref.lsq(x.data(), a.data(), n, lsq);
      table->lsq(x.data(), b.data(), n, lsq);
      CHECK(mismatches(a, b) == 0);
      const float ref_step_grad = ref.lsq_backward(g.data(), x.data(), da.data(), n, lsq);
      const float step_grad = table->lsq_backward(g.data(), x.data(), db.data(), n, lsq);
      CHECK(mismatches(da, db) == 0);
      // NaN inputs make the step's gradient NaN in both (the definition propagates it).
      check_sum(step_grad, ref_step_grad, g, 8.0f);

      const qk::PactGrid pact{6.0f * step * 15.0f, 6.0f * step};
      ref.pact(x.data(), a.data(), n, pact);
      table->pact(x.data(), b.data(), n, pact);
      CHECK(mismatches(a, b) == 0);
      const float ref_alpha_grad = ref.pact_backward(g.data(), x.data(), da.data(), n, pact);
      const float alpha_grad = table->pact_backward(g.data(), x.data(), db.data(), n, pact);
      CHECK(mismatches(da, db) == 0);
      check_sum(alpha_grad, ref_alpha_grad, g, 1.0f);
    }
  }
}

TEST_CASE("the reference affine kernel is the scalar definition of docs/quantization.md") {
  const qk::AffineGrid grid{0.5f, 2.0f, 0.0f, 7.0f};
  const std::vector<float> x = {-3.0f, -1.0f, -0.25f, 0.25f, 0.75f, 1.25f, 2.5f, 100.0f};
  std::vector<float> out(x.size()), dx(x.size());
  const std::vector<float> g(x.size(), 1.0f);
  qk::reference_fake_quant().affine(x.data(), out.data(), static_cast<int64_t>(x.size()), grid);
  qk::reference_fake_quant().affine_backward(g.data(), x.data(), dx.data(), static_cast<int64_t>(x.size()), grid);
  for (size_t i = 0; i < x.size(); ++i) {
    CAPTURE(x[i]);
    CHECK(out[i] == fake_quantize_value(x[i], 0.5f, 2, 0, 7));
    const float q = std::nearbyint(x[i] / 0.5f) + 2.0f;
    CHECK(dx[i] == ((q >= 0.0f && q <= 7.0f) ? 1.0f : 0.0f));
  }
  // Round half to even: -0.25/0.5 = -0.5 -> -0 -> code 2 -> 0; 0.25/0.5 = 0.5 -> 0 -> 0;
  // 0.75/0.5 = 1.5 -> 2 -> code 4 -> 1.0; 1.25/0.5 = 2.5 -> 2 -> 1.0.
  CHECK(out[2] == 0.0f);
  CHECK(out[3] == 0.0f);
  CHECK(out[4] == 1.0f);
  CHECK(out[5] == 1.0f);
  CHECK(out[0] == -1.0f);   // code clamped at 0: (0 - 2)·0.5
  CHECK(out[7] == 2.5f);    // code clamped at 7
}

TEST_CASE("per-channel fake quantization: runs cut by loop structure equal the per-element definition") {
  // A [N, C, H, W] activation per channel along axis 1 (outer 3, channels 5, inner 37·41 >
  // one run piece), and a weight per output channel along axis 0, at 1 and 2 threads.
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (int64_t axis : {0, 1, 3}) {
      CAPTURE(threads);
      CAPTURE(axis);
      const Shape shape = {3, 5, 37, 441};
      Tensor x = randn_seeded(shape, 7);
      const int64_t channels = shape[static_cast<size_t>(axis)];
      QuantScheme scheme = QuantScheme::weight_per_channel(4, axis);
      QuantParams params{Tensor::empty({channels}), Tensor::empty({channels}, DType::i32)};
      for (int64_t c = 0; c < channels; ++c) {
        params.scale.data<float>()[c] = 0.05f + 0.01f * static_cast<float>(c % 7);
        params.zero_point.data<int32_t>()[c] = 0;
      }
      Tensor xr = x.detach().set_requires_grad(true);
      Tensor y = fake_quantize(xr, params, scheme);
      Tensor g = randn_seeded(shape, 8);
      sum(mul(y, g)).backward();
      int64_t inner = 1;
      for (int64_t d = axis + 1; d < 4; ++d) inner *= shape[static_cast<size_t>(d)];
      const float* px = x.data<float>();
      const float* py = y.data<float>();
      const float* pg = g.data<float>();
      const float* pdx = xr.grad().data<float>();
      int64_t bad_out = 0, bad_grad = 0;
      for (int64_t i = 0; i < x.numel(); ++i) {
        const int64_t c = (i / inner) % channels;
        const float s = params.scale.data<float>()[c];
        bad_out += py[i] == fake_quantize_value(px[i], s, 0, scheme.qmin(), scheme.qmax()) ? 0 : 1;
        const float q = std::nearbyint(px[i] / s);
        const bool inside = q >= static_cast<float>(scheme.qmin()) && q <= static_cast<float>(scheme.qmax());
        bad_grad += pdx[i] == (inside ? pg[i] : 0.0f) ? 0 : 1;
      }
      CHECK(bad_out == 0);
      CHECK(bad_grad == 0);
    }
  }
  set_num_threads(2);
}

TEST_CASE("LSQ and PACT parameter gradients are the same at any thread count, and equal the plain sums") {
  const Shape shape = {4, 8, 33, 65};  // 68,640 elements: several run pieces per tensor
  Tensor x = mul(randn_seeded(shape, 3), 2.0f);
  Tensor g = randn_seeded(shape, 4);
  const QuantScheme scheme = QuantScheme::weight_per_tensor(4);
  const auto qmin = static_cast<float>(scheme.qmin()), qmax = static_cast<float>(scheme.qmax());
  std::vector<float> lsq_grads, pact_grads;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Tensor step = Tensor::full({1}, 0.2).set_requires_grad(true);
    sum(mul(lsq_quantize(x, step, scheme, 1.0f), g)).backward();
    lsq_grads.push_back(step.grad().item());
    Tensor alpha = Tensor::full({1}, 1.5).set_requires_grad(true);
    sum(mul(pact(x, alpha, 4), g)).backward();
    pact_grads.push_back(alpha.grad().item());
  }
  set_num_threads(2);
  CHECK(lsq_grads[0] == lsq_grads[1]);
  CHECK(pact_grads[0] == pact_grads[1]);
  // The plain definitions, summed in double.
  double lsq_want = 0, pact_want = 0, magnitude = 0;
  const float* px = x.data<float>();
  const float* pg = g.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float v = px[i] / 0.2f;
    const float d = v <= qmin ? qmin : v >= qmax ? qmax : std::nearbyint(v) - v;
    lsq_want += static_cast<double>(pg[i]) * d;
    if (px[i] >= 1.5f) pact_want += pg[i];
    magnitude += std::fabs(pg[i]) * 8.0;
  }
  CHECK(std::fabs(lsq_grads[0] - lsq_want) <= 1e-5 * magnitude);
  CHECK(std::fabs(pact_grads[0] - pact_want) <= 1e-5 * magnitude);
}
