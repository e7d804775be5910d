// Every SIMD elementwise and batch-norm table this CPU can run, against the scalar reference
// twin, on odd lengths so the vector tails are exercised.
#include <doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/generator.hpp"
#include "core/kernels/batch_norm.hpp"
#include "core/kernels/elementwise.hpp"

using namespace intrain;
using namespace intrain::kernels;

namespace {

const std::vector<int64_t> kLengths = {1, 2, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 127, 1023, 1024, 4099};

std::vector<const ElementwiseKernels*> simd_tables() {
  std::vector<const ElementwiseKernels*> tables;
  if (detected_isa() >= Isa::avx2) tables.push_back(&avx2_elementwise());
  if (detected_isa() >= Isa::avx512) tables.push_back(&avx512_elementwise());
  return tables;
}

std::vector<float> values(int64_t n, uint64_t seed, float lo, float hi) {
  Generator g(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = lo + (hi - lo) * g.uniform();
  return v;
}

bool close(float got, float want, double rtol) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::abs(double(got) - want) <= rtol * std::abs(double(want)) + 1e-6;
}

}  // namespace

TEST_CASE("SIMD tables exist for the CPU this runs on") {
  MESSAGE("detected ISA: ", std::string(isa_name(detected_isa())), ", active: ", std::string(isa_name(active_isa())));
  CHECK(elementwise().isa == active_isa());
}

TEST_CASE("SIMD binary ops match the scalar reference") {
  const auto& ref = reference_elementwise();
  for (const ElementwiseKernels* simd : simd_tables()) {
    const std::string isa = isa_name(simd->isa);
    CAPTURE(isa);
    for (int64_t n : kLengths) {
      CAPTURE(n);
      auto a = values(n, 1, -3, 3), b = values(n, 2, 0.5f, 4);
      for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div, BinaryOp::max, BinaryOp::min}) {
        CAPTURE(static_cast<int>(op));
        std::vector<float> got(a.size()), want(a.size());
        simd->binary(op, a.data(), b.data(), got.data(), n);
        ref.binary(op, a.data(), b.data(), want.data(), n);
        for (int64_t i = 0; i < n; ++i) REQUIRE(close(got[i], want[i], 1e-6));
        simd->binary_scalar(op, a.data(), 1.7f, got.data(), n);
        ref.binary_scalar(op, a.data(), 1.7f, want.data(), n);
        for (int64_t i = 0; i < n; ++i) REQUIRE(close(got[i], want[i], 1e-6));
        simd->scalar_binary(op, 1.7f, b.data(), got.data(), n);
        ref.scalar_binary(op, 1.7f, b.data(), want.data(), n);
        for (int64_t i = 0; i < n; ++i) REQUIRE(close(got[i], want[i], 1e-6));
      }
    }
  }
}

TEST_CASE("SIMD unary ops match the scalar reference, edge values included") {
  const auto& ref = reference_elementwise();
  struct Range {
    UnaryOp op;
    float lo, hi;
    double rtol;
  };
  const std::vector<Range> ranges = {
      {UnaryOp::neg, -5, 5, 0},        {UnaryOp::exp, -80, 80, 2e-6},  {UnaryOp::exp, -1, 1, 2e-6},
      {UnaryOp::log, 1e-30f, 1e30f, 2e-6}, {UnaryOp::log, 0.5f, 2, 2e-6}, {UnaryOp::sqrt, 0, 100, 1e-7},
      {UnaryOp::relu, -2, 2, 0},       {UnaryOp::sigmoid, -30, 30, 2e-6}, {UnaryOp::tanh, -10, 10, 2e-6},
      {UnaryOp::tanh, -0.7f, 0.7f, 2e-6}, {UnaryOp::abs, -3, 3, 0},
  };
  for (const ElementwiseKernels* simd : simd_tables()) {
    const std::string isa = isa_name(simd->isa);
    CAPTURE(isa);
    for (const Range& r : ranges) {
      CAPTURE(static_cast<int>(r.op));
      for (int64_t n : kLengths) {
        auto x = values(n, 3, r.lo, r.hi);
        std::vector<float> got(x.size()), want(x.size());
        simd->unary(r.op, x.data(), got.data(), n);
        ref.unary(r.op, x.data(), want.data(), n);
        for (int64_t i = 0; i < n; ++i) {
          INFO("x = ", x[i], " got ", got[i], " want ", want[i]);
          REQUIRE(close(got[i], want[i], r.rtol));
        }
      }
    }
    // NaN, infinities, zero and huge arguments follow libm.
    std::vector<float> edge = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 89.0f, -110.0f, -1.0f, 1e-3f};
    for (UnaryOp op : {UnaryOp::exp, UnaryOp::log, UnaryOp::relu, UnaryOp::sigmoid, UnaryOp::tanh, UnaryOp::sqrt}) {
      CAPTURE(static_cast<int>(op));
      std::vector<float> got(edge.size()), want(edge.size());
      simd->unary(op, edge.data(), got.data(), static_cast<int64_t>(edge.size()));
      ref.unary(op, edge.data(), want.data(), static_cast<int64_t>(edge.size()));
      for (size_t i = 0; i < edge.size(); ++i) {
        INFO("x = ", edge[i], " got ", got[i], " want ", want[i]);
        CHECK(close(got[i], want[i], 2e-6));
      }
    }
  }
}

TEST_CASE("SIMD clamp, mask, axpy and reductions match the scalar reference") {
  const auto& ref = reference_elementwise();
  for (const ElementwiseKernels* simd : simd_tables()) {
    const std::string isa = isa_name(simd->isa);
    CAPTURE(isa);
    for (int64_t n : kLengths) {
      CAPTURE(n);
      auto x = values(n, 4, -8, 8), g = values(n, 5, -1, 1);
      std::vector<float> got(x.size()), want(x.size());
      simd->clamp(x.data(), -1.5f, 6.0f, got.data(), n);
      ref.clamp(x.data(), -1.5f, 6.0f, want.data(), n);
      CHECK(got == want);
      simd->mask_inside(g.data(), x.data(), 0.0f, 6.0f, got.data(), n);
      ref.mask_inside(g.data(), x.data(), 0.0f, 6.0f, want.data(), n);
      CHECK(got == want);
      got = g;
      want = g;
      simd->axpy(0.25f, x.data(), got.data(), n);
      ref.axpy(0.25f, x.data(), want.data(), n);
      for (int64_t i = 0; i < n; ++i) REQUIRE(close(got[i], want[i], 1e-6));
      CHECK(simd->sum(x.data(), n) == doctest::Approx(ref.sum(x.data(), n)).epsilon(1e-5).scale(8));
      CHECK(simd->max(x.data(), n) == ref.max(x.data(), n));
    }
    // NaN propagates through clamp and max.
    std::vector<float> with_nan = values(37, 6, -1, 1);
    with_nan[21] = NAN;
    CHECK(std::isnan(simd->max(with_nan.data(), 37)));
    std::vector<float> out(37);
    simd->clamp(with_nan.data(), 0, 1, out.data(), 37);
    CHECK(std::isnan(out[21]));
  }
}

namespace {

std::vector<const BatchNormKernels*> batch_norm_tables() {
  std::vector<const BatchNormKernels*> tables;
  if (detected_isa() >= Isa::avx2) tables.push_back(&avx2_batch_norm());
  if (detected_isa() >= Isa::avx512) tables.push_back(&avx512_batch_norm());
  return tables;
}

}  // namespace

TEST_CASE("SIMD batch-norm kernels match the scalar reference; the gaps between runs are neither read nor written") {
  CHECK(batch_norm_kernels().isa == active_isa());
  const auto& ref = reference_batch_norm();
  for (const BatchNormKernels* simd : batch_norm_tables()) {
    const std::string isa = isa_name(simd->isa);
    CAPTURE(isa);
    for (int64_t runs : {1, 3, 5})
      for (int64_t len : {1, 3, 7, 8, 9, 16, 17, 100, 300, 1031}) {
        CAPTURE(runs);
        CAPTURE(len);
        // Three values of gap after each run, NaN: a kernel that reads one returns NaN, and a
        // write into one replaces the NaN.
        const ChannelRuns r{runs, len, len + 3};
        const int64_t size = runs * r.stride;
        std::vector<float> x = values(size, 7 + len, 2, 6), g = values(size, 8 + len, -1, 1);
        for (int64_t n = 0; n < runs; ++n)
          for (int64_t i = len; i < r.stride; ++i) x[n * r.stride + i] = g[n * r.stride + i] = NAN;
        const double count = static_cast<double>(r.count());
        auto same = [](double got, double want) { return std::abs(got - want) <= 1e-6 * std::abs(want) + 1e-9; };
        const double sum = ref.sum(x.data(), r), mean = sum / count;
        CHECK(same(simd->sum(x.data(), r), sum));
        CHECK(same(simd->square_sum(x.data(), r, 0.0f), ref.square_sum(x.data(), r, 0.0f)));
        CHECK(same(simd->square_sum(x.data(), r, float(mean)), ref.square_sum(x.data(), r, float(mean))));
        // No activation, then ReLU and ReLU6 bounds: y = (x − 4)·1.5 spans [−3, 3] and
        // the bounds cut it (the mask reads the reference's y).
        const float bounds[][2] = {{-INFINITY, INFINITY}, {0.0f, INFINITY}, {0.0f, 1.0f}};
        for (const auto& [lo, hi] : bounds) {
          CAPTURE(lo);
          CAPTURE(hi);
          std::vector<float> got(x.size(), NAN), want(x.size(), NAN);
          simd->affine(x.data(), r, 1.5f, -6.0f, lo, hi, got.data());
          ref.affine(x.data(), r, 1.5f, -6.0f, lo, hi, want.data());
          for (int64_t i = 0; i < size; ++i) REQUIRE(close(got[i], want[i], 1e-6));
          const ActivationMask mask = std::isinf(lo) ? ActivationMask{} : ActivationMask{want.data(), 1e-30f, hi};

          double got_g = 0, got_gx = 0, want_g = 0, want_gx = 0;
          simd->grad_sums(g.data(), x.data(), mask, r, float(mean), &got_g, &got_gx);
          ref.grad_sums(g.data(), x.data(), mask, r, float(mean), &want_g, &want_gx);
          // Σg and Σg·(x − mean) cancel: compared on the scale of Σ|g|·|x − mean| (≤ 2 per value).
          CHECK(std::abs(got_g - want_g) <= 1e-6 * count);
          CHECK(std::abs(got_gx - want_gx) <= 2e-6 * count);

          std::vector<float> got_dx(x.size(), NAN), want_dx(x.size(), NAN);
          simd->grad_input(g.data(), x.data(), mask, r, float(mean), 1.3f, -0.2f, 0.05f, got_dx.data());
          ref.grad_input(g.data(), x.data(), mask, r, float(mean), 1.3f, -0.2f, 0.05f, want_dx.data());
          for (int64_t i = 0; i < size; ++i) REQUIRE(close(got_dx[i], want_dx[i], 1e-5));
        }
      }
  }
}
