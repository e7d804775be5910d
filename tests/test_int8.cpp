// The int8 executor: the fast path of every kernel table bit-identical to the NCHW
// reference over many conv shapes, and agreement between fake-quantized models and their
// converted programs.
#include <doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/autograd.hpp"
#include "data/mnist.hpp"
#include "int8/executor.hpp"
#include "int8/requantize.hpp"
#include "models/lenet.hpp"
#include "nn/layers.hpp"
#include "quant/convert.hpp"
#include "quant/prepare.hpp"
#include "tests/int8_agreement.hpp"
#include "tests/int8_helpers.hpp"
#include "tests/temp_dir.hpp"

using namespace intrain;
using namespace intrain::int8;
using intrain::testing::TempDir;

using intrain::testing::ConvSpec;
using intrain::testing::random_program;
using intrain::testing::tables_to_test;

TEST_CASE("executor: the fast path is bit-identical to the reference over many conv shapes") {
  // (with max and average pooling, flatten and a float-output linear after the convolutions)
  const std::vector<std::pair<Shape, std::vector<ConvSpec>>> cases = {
      {{1, 12, 12}, {{20, 5, 1, 0, 1}}},                       // LeNet-like
      {{3, 9, 9}, {{8, 3, 2, 1, 1}, {8, 3, 1, 1, 8}}},         // stem stride 2, then depthwise
      {{5, 7, 7}, {{5, 3, 2, 1, 5}, {7, 1, 1, 0, 1}}},         // odd depthwise stride 2, pointwise
      {{4, 6, 5}, {{6, 1, 1, 0, 2}, {3, 3, 1, 2, 3}}},         // grouped, wide padding
      {{17, 4, 4}, {{33, 3, 1, 1, 1}}},                        // odd channel counts
      {{8, 9, 9}, {{6, 3, 2, 1, 1}, {6, 3, 2, 0, 1}}},         // channel-quad layout, stride 2, padded and not
      {{12, 7, 6}, {{12, 5, 1, 2, 3}}},                        // grouped, 4 channels per group, wide padding
  };
  Generator g(4);
  for (const auto& [input, convs] : cases) {
    Program p = random_program(input, convs, 7);
    CAPTURE(shape_str(input));
    Executor reference(p, {false});
    Tensor x = Tensor::randn({3, input[0], input[1], input[2]}, g);
    const auto want = reference.run(x).to_vector<float>();
    for (const KernelTable* table : tables_to_test()) {
      CAPTURE(table->id);
      Executor fast(p, {true, table});
      CHECK(fast.run(x).to_vector<float>() == want);
    }
  }
}

TEST_CASE("a PTQ-calibrated LeNet converts, and the int8 program agrees with the fake-quantized model") {
  Generator g(11);
  auto model = models::lenet5_bn(g);
  // Give batch norm non-trivial running statistics, as training would.
  model->train();
  for (int i = 0; i < 5; ++i) {
    NoGradGuard no_grad;
    (*model)(Tensor::randn({16, 1, 28, 28}, g));
  }
  std::vector<uint8_t> pixels_u8(128 * 784), labels(128);
  for (auto& v : pixels_u8) v = static_cast<uint8_t>(g.next_u64());
  auto dataset = std::make_shared<data::MnistDataset>(pixels_u8, labels, 28, 28, data::normalize({0.5f}, {0.3f}));
  data::DataLoader loader(dataset, {32, false, 0, false, 0, 1});
  quant::prepare_ptq(*model, quant::preset("w8a8"));
  quant::calibrate(*model, loader, 4);
  const Program program = quant::convert(*model, {1, 28, 28}, "lenet5_bn");
  const Executor exe(program);
  Tensor x = Tensor::empty({64, 1, 28, 28});
  {
    data::DataLoader all(dataset, {64, false, 0, false, 0, 1});
    all.start_epoch(0);
    data::Batch b;
    all.next(b);
    x = b.images;
  }
  Tensor fake;
  {
    NoGradGuard no_grad;
    model->eval();
    fake = (*model)(x);
  }
  Tensor integer = exe.run(x);
  const auto a = argmax(fake, 1).to_vector<int32_t>(), b = argmax(integer, 1).to_vector<int32_t>();
  int agree = 0;
  for (size_t i = 0; i < a.size(); ++i) agree += a[i] == b[i];
  CHECK(agree >= 62);
  // Raw pixels through the program's pixel table give exactly the float input's result.
  int8::Program with_pixels = program;
  set_pixel_input(with_pixels, {0.5f}, {0.3f});
  Tensor pixels = Tensor::from_vector(std::vector<uint8_t>(pixels_u8.begin(), pixels_u8.begin() + 64 * 784), {64, 1, 28, 28});
  CHECK(Executor(with_pixels).run_pixels(pixels).to_vector<float>() == integer.to_vector<float>());
  CHECK_THROWS_AS(exe.run_pixels(pixels), Error);  // no table: a clear error
  // Logits agree to a fraction of the output range.
  const auto fl = fake.to_vector<float>(), il = integer.to_vector<float>();
  double worst = 0, range = 0;
  for (size_t i = 0; i < fl.size(); ++i) {
    worst = std::max(worst, std::abs(double(fl[i]) - il[i]));
    range = std::max(range, std::abs(double(fl[i])));
  }
  CHECK(worst < 0.05 * range);
}

TEST_CASE("residual blocks and average pooling convert and agree with the fake-quantized model") {
  Generator g(21);
  using nn::make;
  using Layers = std::initializer_list<nn::ModulePtr>;
  auto model = std::make_shared<nn::Sequential>(Layers{
      make<nn::Conv2d>(1, 8, 3, nn::Conv2dOptions{.padding = 1}, g), make<nn::ReLU>(),
      make<nn::Residual>(make<nn::Sequential>(Layers{make<nn::Conv2d>(8, 8, 3, nn::Conv2dOptions{.padding = 1}, g),
                                                     make<nn::BatchNorm2d>(8), make<nn::ReLU6>()})),
      make<nn::AvgPool2d>(2), make<nn::Conv2d>(8, 12, 1, nn::Conv2dOptions{}, g), make<nn::ReLU>(),
      make<nn::AdaptiveAvgPool2d>(), make<nn::Flatten>(), make<nn::Linear>(12, 10, true, g)});
  std::vector<uint8_t> pixels(96 * 784), labels(96);
  for (auto& v : pixels) v = static_cast<uint8_t>(g.next_u64());
  auto dataset = std::make_shared<data::MnistDataset>(pixels, labels, 28, 28, data::normalize({0.5f}, {0.3f}));
  data::DataLoader loader(dataset, {32, false, 0, false, 0, 1});
  auto layers = quant::prepare_ptq(*model, quant::preset("w8a8"));
  int kinds = 0;
  for (auto& l : layers) kinds += (l.kind == "residual_add") + (l.kind == "avg_pool");
  CHECK(kinds == 3);
  quant::calibrate(*model, loader, 3);
  const Program program = quant::convert(*model, {1, 28, 28});
  int saves = 0, adds = 0, pools = 0;
  for (const Op& op : program.ops) {
    saves += op.kind == OpKind::save;
    adds += op.kind == OpKind::add;
    pools += op.kind == OpKind::avg_pool;
  }
  CHECK(saves == 1);
  CHECK(adds == 1);
  CHECK(pools == 2);
  const Tensor images = intrain::testing::first_images(dataset, 96);
  CHECK(intrain::testing::int8_agreement(*model, program, images) >= 90);
  const Tensor integer = Executor(program).run(images);
  TempDir dir;
  save_program(dir / "res.int8", program);
  CHECK(Executor(load_program(dir / "res.int8")).run(images).to_vector<float>() == integer.to_vector<float>());
}
