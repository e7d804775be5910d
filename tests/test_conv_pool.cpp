// conv2d (oneDNN) against the reference loops, and pooling against naive loops written
// here, over many shapes: depthwise, grouped, strided, dilated, padded, odd, batch > 1.
#include <doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/compute_precision.hpp"
#include "core/cpu_features.hpp"
#include "core/kernels/conv.hpp"
#include "core/ops.hpp"

using namespace intrain;
using kernels::Conv2dParams;

namespace {

std::vector<float> random_values(int64_t n, uint64_t seed) {
  Generator g(seed);
  return Tensor::randn({n}, g).to_vector<float>();
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::abs(double(got[i]) - want[i]) / (1.0 + std::abs(double(want[i]))));
  INFO(what, ": worst relative error ", worst);
  CHECK(worst < 1e-4);
}

// {N, C_in, H, W, C_out, KH, KW, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups}
const std::vector<Conv2dParams> kConvCases = {
    {1, 1, 28, 28, 20, 5, 5, 1, 1, 0, 0, 1, 1, 1},   // LeNet conv1
    {2, 20, 12, 12, 50, 5, 5, 1, 1, 0, 0, 1, 1, 1},  // LeNet conv2
    {3, 3, 9, 9, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1},      // stem, stride 2
    {2, 8, 7, 7, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8},      // depthwise 3x3
    {2, 8, 8, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1, 8},      // depthwise stride 2
    {1, 5, 11, 11, 5, 3, 3, 2, 2, 1, 1, 1, 1, 5},    // depthwise odd
    {2, 16, 6, 6, 24, 1, 1, 1, 1, 0, 0, 1, 1, 1},    // pointwise
    {1, 7, 5, 9, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1},      // pointwise odd
    {2, 6, 10, 10, 9, 3, 3, 1, 1, 1, 1, 1, 1, 3},    // grouped
    {1, 4, 13, 13, 4, 3, 3, 1, 1, 2, 2, 2, 2, 1},    // dilated
    {1, 3, 9, 12, 2, 3, 5, 1, 2, 1, 2, 1, 1, 1},     // rectangular kernel
    {3, 2, 5, 5, 3, 5, 5, 1, 1, 2, 2, 1, 1, 1},      // kernel = input, padded
    {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1},      // trivial
    {4, 3, 8, 8, 6, 2, 2, 2, 2, 0, 0, 1, 1, 1},      // patchify
    {1, 2, 7, 7, 2, 3, 3, 3, 3, 0, 0, 1, 1, 1},      // stride 3
    {2, 4, 9, 7, 4, 3, 3, 2, 1, 1, 0, 1, 1, 4},      // depthwise, mixed stride/pad
    {1, 12, 6, 6, 12, 3, 3, 1, 1, 1, 1, 2, 2, 12},   // depthwise dilated
    {2, 9, 5, 5, 6, 3, 3, 1, 1, 0, 0, 1, 1, 3},      // grouped unpadded
    {1, 3, 17, 17, 5, 7, 7, 2, 2, 3, 3, 1, 1, 1},    // large kernel
    {2, 32, 7, 7, 16, 1, 1, 2, 2, 0, 0, 1, 1, 1},    // pointwise stride 2
    {1, 6, 6, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2},      // groups 2
    {5, 1, 6, 4, 2, 3, 2, 1, 1, 1, 0, 1, 2, 1},      // odd everything
    {2, 3, 12, 12, 4, 4, 4, 4, 4, 1, 1, 1, 1, 1},    // stride 4 with padding
    {1, 16, 3, 3, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1},    // tiny spatial, many channels
};

}  // namespace

TEST_CASE("conv2d: oneDNN forward and backward match the reference loops, in both layouts") {
  for (kernels::ConvLayout layout : {kernels::ConvLayout::plain, kernels::ConvLayout::blocked})
  for (const Conv2dParams& p : kConvCases) {
    const std::string layout_name = kernels::conv_layout_name(layout);
    CAPTURE(layout_name);
    CAPTURE(p.batch);
    CAPTURE(p.in_channels);
    CAPTURE(p.out_channels);
    CAPTURE(p.groups);
    CAPTURE(p.stride_h);
    CAPTURE(p.dilation_h);
    const int64_t nx = p.batch * p.in_channels * p.in_h * p.in_w;
    const int64_t nw = p.out_channels * (p.in_channels / p.groups) * p.kernel_h * p.kernel_w;
    const int64_t ny = p.batch * p.out_channels * p.out_h() * p.out_w();
    const auto x = random_values(nx, 1), w = random_values(nw, 2), b = random_values(p.out_channels, 3);
    const auto dy = random_values(ny, 4);

    std::vector<float> y(ny), y_ref(ny);
    kernels::conv2d_forward_onednn(p, x.data(), w.data(), b.data(), y.data(), layout);
    kernels::conv2d_forward_reference(p, x.data(), w.data(), b.data(), y_ref.data());
    expect_close(y, y_ref, "forward");
    kernels::conv2d_forward_onednn(p, x.data(), w.data(), nullptr, y.data(), layout);
    kernels::conv2d_forward_reference(p, x.data(), w.data(), nullptr, y_ref.data());
    expect_close(y, y_ref, "forward without bias");

    std::vector<float> dx(nx), dx_ref(nx);
    kernels::conv2d_backward_data_onednn(p, w.data(), dy.data(), dx.data(), layout);
    kernels::conv2d_backward_data_reference(p, w.data(), dy.data(), dx_ref.data());
    expect_close(dx, dx_ref, "backward data");

    std::vector<float> dw(nw), dw_ref(nw), db(p.out_channels), db_ref(p.out_channels);
    kernels::conv2d_backward_weights_onednn(p, x.data(), dy.data(), dw.data(), db.data(), layout);
    kernels::conv2d_backward_weights_reference(p, x.data(), dy.data(), dw_ref.data(), db_ref.data());
    expect_close(dw, dw_ref, "backward weights");
    expect_close(db, db_ref, "backward bias");
  }
}

TEST_CASE("conv2d: depthwise backward weights computed directly match the reference loops") {
  std::vector<Conv2dParams> cases;
  for (const Conv2dParams& p : kConvCases)
    if (p.groups == p.in_channels && p.groups == p.out_channels && p.groups > 1) cases.push_back(p);
  // MobileNet's last depthwise at 32x32 inputs: a 3x3 window over 2x2 images (the shape the
  // direct kernel exists for), and a 4x4 plane with stride 2.
  cases.push_back({6, 16, 2, 2, 16, 3, 3, 1, 1, 1, 1, 1, 1, 16});
  cases.push_back({3, 8, 8, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1, 8});
  CHECK(kernels::depthwise_backward_weights_direct(cases[cases.size() - 2]));
  CHECK_FALSE(kernels::depthwise_backward_weights_direct(kConvCases[3]));  // 7x7 plane: oneDNN's jit kernel
  for (const Conv2dParams& p : cases) {
    CAPTURE(p.in_channels);
    CAPTURE(p.in_h);
    CAPTURE(p.stride_h);
    CAPTURE(p.dilation_h);
    const int64_t nx = p.batch * p.in_channels * p.in_h * p.in_w;
    const int64_t nw = p.out_channels * p.kernel_h * p.kernel_w, ny = p.batch * p.out_channels * p.out_h() * p.out_w();
    const auto x = random_values(nx, 5), dy = random_values(ny, 6);
    std::vector<float> dw(nw), dw_ref(nw), db(p.out_channels), db_ref(p.out_channels);
    kernels::conv2d_backward_weights_depthwise(p, x.data(), dy.data(), dw.data(), db.data());
    kernels::conv2d_backward_weights_reference(p, x.data(), dy.data(), dw_ref.data(), db_ref.data());
    expect_close(dw, dw_ref, "depthwise backward weights");
    expect_close(db, db_ref, "depthwise backward bias");
    kernels::conv2d_backward_weights_depthwise(p, x.data(), dy.data(), dw.data(), nullptr);
    expect_close(dw, dw_ref, "depthwise backward weights without bias");
  }
}

// f32 -> bf16 -> f32 with round to nearest even, as oneDNN converts (finite values).
std::vector<float> to_bf16(std::vector<float> v) {
  for (float& f : v) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    bits = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
    std::memcpy(&f, &bits, 4);
  }
  return v;
}

TEST_CASE("conv2d in bf16: oneDNN's bf16 kernels equal the reference on bf16-rounded operands") {
  if (!cpu_has_bf16()) {
    MESSAGE("no AVX512-BF16 or AMX-BF16 on this CPU: the bf16 convolutions were not run");
    CHECK_THROWS_WITH_AS(set_compute_precision(ComputePrecision::bf16), doctest::Contains("bf16"), Error);
    return;
  }
  for (const Conv2dParams& case_p : kConvCases) {
    Conv2dParams p = case_p;
    p.bf16 = true;
    CAPTURE(p.in_channels);
    CAPTURE(p.out_channels);
    CAPTURE(p.groups);
    CAPTURE(p.stride_h);
    const int64_t nx = p.batch * p.in_channels * p.in_h * p.in_w;
    const int64_t nw = p.out_channels * (p.in_channels / p.groups) * p.kernel_h * p.kernel_w;
    const int64_t ny = p.batch * p.out_channels * p.out_h() * p.out_w();
    const auto x = random_values(nx, 1), w = random_values(nw, 2), b = random_values(p.out_channels, 3);
    const auto dy = random_values(ny, 4);
    // Only the rounding of the operands differs from f32: the products of bf16 values are
    // exact in f32 and accumulate in f32, so the error left is the summation order's.
    const auto xb = to_bf16(x), wb = to_bf16(w), dyb = to_bf16(dy);
    std::vector<float> y(ny), y_ref(ny);
    kernels::conv2d_forward_onednn(p, x.data(), w.data(), b.data(), y.data());
    kernels::conv2d_forward_reference(p, xb.data(), wb.data(), b.data(), y_ref.data());
    expect_close(y, y_ref, "bf16 forward");
    std::vector<float> dx(nx), dx_ref(nx);
    kernels::conv2d_backward_data_onednn(p, w.data(), dy.data(), dx.data());
    kernels::conv2d_backward_data_reference(p, wb.data(), dyb.data(), dx_ref.data());
    expect_close(dx, dx_ref, "bf16 backward data");
    std::vector<float> dw(nw), dw_ref(nw), db(p.out_channels), db_ref(p.out_channels);
    kernels::conv2d_backward_weights_onednn(p, x.data(), dy.data(), dw.data(), db.data());
    kernels::conv2d_backward_weights_reference(p, xb.data(), dyb.data(), dw_ref.data(), db_ref.data());
    expect_close(dw, dw_ref, "bf16 backward weights");
    expect_close(db, db_ref, "bf16 backward bias");
  }
  // The op follows the process's precision, and the guard restores f32.
  {
    PrecisionGuard bf16(ComputePrecision::bf16);
    CHECK(compute_precision() == ComputePrecision::bf16);
    Generator g(5);
    Tensor x = Tensor::randn({2, 3, 8, 8}, g), w = Tensor::randn({4, 3, 3, 3}, g);
    Tensor y = conv2d(x, w, Tensor(), Conv2dOptions{});
    const Conv2dParams p{2, 3, 8, 8, 4, 3, 3, 1, 1, 0, 0, 1, 1, 1};
    std::vector<float> y_ref(static_cast<size_t>(y.numel()));
    kernels::conv2d_forward_reference(p, to_bf16(x.to_vector<float>()).data(), to_bf16(w.to_vector<float>()).data(),
                                      nullptr, y_ref.data());
    expect_close(y.to_vector<float>(), y_ref, "bf16 conv2d op");
  }
  CHECK(compute_precision() == ComputePrecision::f32);
  CHECK_THROWS_WITH_AS(parse_precision("fp16"), doctest::Contains("fp16"), Error);
}

TEST_CASE("conv2d op: output shape follows PyTorch's formula") {
  Tensor x = Tensor::zeros({2, 3, 11, 8});
  Tensor w = Tensor::zeros({6, 1, 3, 3});
  Tensor y = conv2d(x, w, Tensor(), {2, 3, 1, 2, 2, 1, 3});
  // H: (11 + 2·1 − 2·(3−1) − 1)/2 + 1 = 5;  W: (8 + 2·2 − 1·(3−1) − 1)/3 + 1 = 4
  CHECK(y.shape() == Shape{2, 6, 5, 4});
}

namespace {

// Naive pooling written independently of the kernels: for every output, scan its window.
struct NaivePool {
  std::vector<float> max_out, avg_out;
};

NaivePool naive_pool(const std::vector<float>& x, int64_t planes, int64_t h, int64_t w, int64_t k, int64_t s,
                     int64_t pad) {
  const int64_t oh = (h + 2 * pad - k) / s + 1, ow = (w + 2 * pad - k) / s + 1;
  NaivePool r;
  for (int64_t c = 0; c < planes; ++c)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        float m = -INFINITY, sum = 0;
        for (int64_t a = 0; a < k; ++a)
          for (int64_t b = 0; b < k; ++b) {
            const int64_t y = i * s - pad + a, xx = j * s - pad + b;
            if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
            m = std::max(m, x[(c * h + y) * w + xx]);
            sum += x[(c * h + y) * w + xx];
          }
        r.max_out.push_back(m);
        r.avg_out.push_back(sum / static_cast<float>(k * k));
      }
  return r;
}

}  // namespace

TEST_CASE("pooling: max and average match naive loops over 20+ shapes") {
  struct Case {
    int64_t n, c, h, w, k, s, pad;
  };
  const std::vector<Case> cases = {
      {1, 1, 4, 4, 2, 2, 0},   {2, 3, 8, 8, 2, 2, 0},   {1, 20, 24, 24, 2, 2, 0}, {2, 2, 7, 7, 2, 2, 0},
      {1, 3, 9, 9, 3, 2, 1},   {2, 4, 5, 5, 3, 1, 1},   {1, 1, 13, 11, 3, 3, 0},  {3, 2, 6, 10, 2, 1, 0},
      {1, 5, 1, 1, 1, 1, 0},   {2, 2, 15, 15, 5, 3, 2}, {1, 8, 7, 5, 3, 2, 0},    {4, 1, 6, 6, 4, 2, 1},
      {1, 2, 32, 32, 2, 2, 0}, {2, 6, 3, 3, 3, 1, 1},   {1, 3, 10, 10, 2, 3, 1},  {2, 3, 11, 4, 3, 1, 0},
      {1, 1, 2, 9, 2, 2, 1},   {3, 4, 8, 6, 2, 2, 1},   {1, 7, 12, 12, 6, 6, 0},  {2, 1, 5, 8, 5, 1, 2},
      {1, 16, 14, 14, 3, 2, 1}, {2, 9, 9, 9, 9, 1, 0},
  };
  for (const Case& c : cases) {
    CAPTURE(c.h);
    CAPTURE(c.w);
    CAPTURE(c.k);
    CAPTURE(c.s);
    CAPTURE(c.pad);
    Generator g(7);
    Tensor x = Tensor::randn({c.n, c.c, c.h, c.w}, g);
    const auto want = naive_pool(x.to_vector<float>(), c.n * c.c, c.h, c.w, c.k, c.s, c.pad);
    const Pool2dOptions o = Pool2dOptions::square(c.k, c.s, c.pad);
    expect_close(max_pool2d(x, o).to_vector<float>(), want.max_out, "max_pool2d");
    expect_close(avg_pool2d(x, o).to_vector<float>(), want.avg_out, "avg_pool2d");
  }
}

TEST_CASE("global_avg_pool2d averages each plane") {
  Tensor x = Tensor::arange(24).reshape({2, 3, 2, 2});
  Tensor y = global_avg_pool2d(x);
  CHECK(y.shape() == Shape{2, 3, 1, 1});
  const auto v = y.to_vector<float>();
  for (int i = 0; i < 6; ++i) CHECK(v[static_cast<size_t>(i)] == doctest::Approx(4 * i + 1.5));
}
