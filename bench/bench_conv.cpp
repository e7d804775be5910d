// conv2d through oneDNN: forward, backward-data and backward-weights on LeNet- and
// MobileNet-like shapes, depthwise 3x3 included, in oneDNN's plain (NCHW, im2col+GEMM) and
// blocked (its choice of layout, reordered at the edges) modes and as routed.
#include <vector>

#include "bench/bench_util.hpp"
#include "core/generator.hpp"
#include "core/kernels/conv.hpp"
#include "core/tensor.hpp"

using namespace intrain;
using kernels::Conv2dParams;

namespace {

struct ConvCase {
  const char* name;
  Conv2dParams p;
};

// {N, C_in, H, W, C_out, KH, KW, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups}
const std::vector<ConvCase> kCases = {
    {"lenet_conv1_b64", {64, 1, 28, 28, 20, 5, 5, 1, 1, 0, 0, 1, 1, 1}},
    {"lenet_conv2_b64", {64, 20, 12, 12, 50, 5, 5, 1, 1, 0, 0, 1, 1, 1}},
    {"mbv1_stem_224_b1", {1, 3, 224, 224, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1}},
    {"mbv1_pw_56x56x128_b1", {1, 128, 56, 56, 128, 1, 1, 1, 1, 0, 0, 1, 1, 1}},
    {"mbv1_pw_14x14x512_b1", {1, 512, 14, 14, 512, 1, 1, 1, 1, 0, 0, 1, 1, 1}},
    {"mbv1_dw3x3_56x56x128_b1", {1, 128, 56, 56, 128, 3, 3, 1, 1, 1, 1, 1, 1, 128}},
    {"mbv1_dw3x3_s2_112x112x64_b1", {1, 64, 112, 112, 64, 3, 3, 2, 2, 1, 1, 1, 1, 64}},
    {"mbv1_dw3x3_14x14x512_b16", {16, 512, 14, 14, 512, 3, 3, 1, 1, 1, 1, 1, 1, 512}},
    {"mbv1_32px_pw_8x8x256_b128", {128, 256, 8, 8, 256, 1, 1, 1, 1, 0, 0, 1, 1, 1}},
    // MobileNetV1-0.75 at 32x32 (small-input stem), batch 128: its first pointwise, the
    // five 4x4 ones and the last block's depthwise and pointwise at 2x2.
    {"mbv1_32px_pw_32x32x24_b128", {128, 24, 32, 32, 48, 1, 1, 1, 1, 0, 0, 1, 1, 1}},
    {"mbv1_32px_pw_4x4x384_b128", {128, 384, 4, 4, 384, 1, 1, 1, 1, 0, 0, 1, 1, 1}},
    {"mbv1_32px_dw3x3_2x2x768_b128", {128, 768, 2, 2, 768, 3, 3, 1, 1, 1, 1, 1, 1, 768}},
    {"mbv1_32px_pw_2x2x768_b128", {128, 768, 2, 2, 768, 1, 1, 1, 1, 0, 0, 1, 1, 1}},
};

void BM_conv(benchmark::State& state, ConvCase c, kernels::ConvPass pass, kernels::ConvLayout layout) {
  const Conv2dParams& p = c.p;
  Generator g(1);
  Tensor x = Tensor::randn({p.batch, p.in_channels, p.in_h, p.in_w}, g);
  Tensor w = Tensor::randn({p.out_channels, p.in_channels / p.groups, p.kernel_h, p.kernel_w}, g);
  Tensor b = Tensor::randn({p.out_channels}, g);
  Tensor y = Tensor::randn({p.batch, p.out_channels, p.out_h(), p.out_w()}, g);
  Tensor dx = Tensor::empty(x.shape()), dw = Tensor::empty(w.shape()), db = Tensor::empty(b.shape());
  auto run = [&] {
    switch (pass) {
      case kernels::ConvPass::forward:
        return kernels::conv2d_forward_onednn(p, x.data<float>(), w.data<float>(), b.data<float>(), y.data<float>(),
                                              layout);
      case kernels::ConvPass::backward_data:
        return kernels::conv2d_backward_data_onednn(p, w.data<float>(), y.data<float>(), dx.data<float>(), layout);
      case kernels::ConvPass::backward_weights:
        return kernels::conv2d_backward_weights_onednn(p, x.data<float>(), y.data<float>(), dw.data<float>(),
                                                       db.data<float>(), layout);
    }
  };
  run();  // builds and caches the primitive
  bench::LoopTimer timer;
  for (auto _ : state) {
    run();
    benchmark::ClobberMemory();
  }
  bench::report_gflops(state, timer, static_cast<double>(p.flops()));
  if (layout == kernels::ConvLayout::routed) state.SetLabel(kernels::conv_layout_name(kernels::choose_conv_layout(p, pass)));
}

int register_all() {
  for (const ConvCase& c : kCases) {
    using kernels::ConvLayout;
    using kernels::ConvPass;
    for (auto [pass, pass_name] : {std::pair{ConvPass::forward, "forward"}, std::pair{ConvPass::backward_data, "backward_data"},
                                   std::pair{ConvPass::backward_weights, "backward_weights"}})
      for (ConvLayout layout : {ConvLayout::plain, ConvLayout::blocked, ConvLayout::routed}) {
        const std::string name = std::string("conv2d/") + c.name + "/" + pass_name + "/" + kernels::conv_layout_name(layout);
        benchmark::RegisterBenchmark(name.c_str(), BM_conv, c, pass, layout);
      }
  }
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
