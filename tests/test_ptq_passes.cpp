// PTQ passes on the float or calibrated model: cross-layer equalization (function kept,
// channel ranges balanced), high-bias absorption (function kept) and AdaRound (lower layer error than nearest rounding, and the
// int8 program still agrees with the fake-quantized model).
#include <doctest.h>

#include <cmath>

#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "models/lenet.hpp"
#include "nn/layers.hpp"
#include "quant/adaround.hpp"
#include "quant/config.hpp"
#include "quant/convert.hpp"
#include "quant/equalize.hpp"
#include "quant/prepare.hpp"
#include "tests/int8_agreement.hpp"

using namespace intrain;

namespace {

// conv → BN → act → depthwise → BN → act → pointwise → BN → act → pool → flatten → linear,
// with batch norms whose statistics and affine parameters differ per channel (so the
// channel ranges start far from equal).
std::shared_ptr<nn::Sequential> separable_net(bool relu6, Generator& g) {
  auto act = [relu6]() -> nn::ModulePtr {
    if (relu6) return std::make_shared<nn::ReLU6>();
    return std::make_shared<nn::ReLU>();
  };
  auto bn = [&g](int64_t c) {
    auto b = std::make_shared<nn::BatchNorm2d>(c);
    for (int64_t i = 0; i < c; ++i) {
      b->weight.data<float>()[i] = 0.2f + 3.0f * g.uniform();
      b->bias.data<float>()[i] = 0.5f * g.normal();
      b->running_mean.data<float>()[i] = 0.3f * g.normal();
      b->running_var.data<float>()[i] = 0.1f + 2.0f * g.uniform();
    }
    return b;
  };
  auto block = std::make_shared<nn::Sequential>();
  block->add(std::make_shared<nn::Conv2d>(8, 8, 3, nn::Conv2dOptions{.stride = 1, .padding = 1, .groups = 8}, g));
  block->add(bn(8));
  block->add(act());
  auto net = std::make_shared<nn::Sequential>();
  net->add(std::make_shared<nn::Conv2d>(1, 8, 3, nn::Conv2dOptions{.stride = 1, .padding = 1}, g));
  net->add(bn(8));
  net->add(act());
  net->add(block);  // a nested Sequential continues the run
  net->add(std::make_shared<nn::Conv2d>(8, 16, 1, nn::Conv2dOptions{}, g));
  net->add(bn(16));
  net->add(act());
  net->add(std::make_shared<nn::AdaptiveAvgPool2d>());
  net->add(std::make_shared<nn::Flatten>());
  net->add(std::make_shared<nn::Linear>(16, 10, true, g));
  net->eval();
  return net;
}

std::vector<float> bn_scale(nn::Module& m) {
  return dynamic_cast<nn::BatchNorm2d&>(m).eval_affine().scale;
}

// max |w| over output channel c (times its BN scale), and over input channel c.
float out_range(const Tensor& w, int64_t c, float scale) {
  const int64_t row = w.numel() / w.size(0);
  float r = 0;
  for (int64_t k = 0; k < row; ++k) r = std::max(r, std::abs(w.data<float>()[c * row + k]));
  return r * std::abs(scale);
}
float in_range(const Tensor& w, int64_t c, bool depthwise) {
  if (depthwise) return out_range(w, c, 1.0f);
  const int64_t out = w.size(0), in = w.size(1), kernel = w.numel() / (out * in);
  float r = 0;
  for (int64_t o = 0; o < out; ++o)
    for (int64_t k = 0; k < kernel; ++k) r = std::max(r, std::abs(w.data<float>()[(o * in + c) * kernel + k]));
  return r;
}

Tensor run(nn::Module& m, const Tensor& x) {
  NoGradGuard no_grad;
  return m(x);
}

float relative_difference(const Tensor& a, const Tensor& b) {
  return max(abs(sub(a, b))).item() / max(abs(b)).item();
}

}  // namespace

TEST_CASE("cross-layer equalization keeps the function and equalizes each pair's channel ranges") {
  Generator g(3);
  auto net = separable_net(false, g);
  const Tensor x = Tensor::randn({8, 1, 12, 12}, g);
  const Tensor before = run(*net, x);
  const quant::EqualizeResult r = quant::equalize_cross_layer(*net);
  CHECK(r.pairs == 3);  // conv → depthwise, depthwise → pointwise, pointwise → linear
  CHECK(r.relu6_replaced == 0);
  CHECK(r.sweeps > 1);  // the depthwise layer sits in two pairs
  CHECK(relative_difference(run(*net, x), before) < 1e-4f);

  auto& block = dynamic_cast<nn::Sequential&>((*net)[3]);
  const Tensor& w1 = dynamic_cast<nn::Conv2d&>((*net)[0]).weight;
  const Tensor& wd = dynamic_cast<nn::Conv2d&>(block[0]).weight;
  const Tensor& w3 = dynamic_cast<nn::Conv2d&>((*net)[4]).weight;
  const Tensor& fc = dynamic_cast<nn::Linear&>((*net)[9]).weight;
  const auto s1 = bn_scale((*net)[1]), sd = bn_scale(block[1]), s3 = bn_scale((*net)[5]);
  for (int64_t c = 0; c < 8; ++c) {
    CAPTURE(c);
    const auto k = static_cast<size_t>(c);
    CHECK(out_range(w1, c, s1[k]) == doctest::Approx(in_range(wd, c, true)).epsilon(1e-3));
    CHECK(out_range(wd, c, sd[k]) == doctest::Approx(in_range(w3, c, false)).epsilon(1e-3));
  }
  const Tensor fct = fc.transpose(0, 1).contiguous();  // input channel c of the linear = row c
  for (int64_t c = 0; c < 16; ++c)
    CHECK(out_range(w3, c, s3[static_cast<size_t>(c)]) == doctest::Approx(out_range(fct, c, 1.0f)).epsilon(1e-3));

  // Deterministic: the same model equalized again gives the same weights.
  Generator g2(3);
  auto again = separable_net(false, g2);
  quant::equalize_cross_layer(*again);
  CHECK(again->state_dict().at("0.weight").to_vector<float>() == w1.to_vector<float>());
}

TEST_CASE("cross-layer equalization and ReLU6: replaced by ReLU (AIMET), or its pairs skipped") {
  Generator g(4);
  auto kept = separable_net(true, g);
  const Tensor x = Tensor::randn({4, 1, 12, 12}, g);
  const Tensor before = run(*kept, x);
  const auto weights = kept->state_dict().at("0.weight").to_vector<float>();
  const quant::EqualizeResult skipped = quant::equalize_cross_layer(*kept, {.relu6_to_relu = false});
  CHECK(skipped.pairs == 0);
  CHECK(kept->state_dict().at("0.weight").to_vector<float>() == weights);
  CHECK(run(*kept, x).to_vector<float>() == before.to_vector<float>());

  Generator g2(4);
  auto replaced = separable_net(true, g2);
  const quant::EqualizeResult r = quant::equalize_cross_layer(*replaced);
  CHECK(r.pairs == 3);
  CHECK(r.relu6_replaced == 3);
  CHECK(dynamic_cast<nn::ReLU*>(&(*replaced)[2]) != nullptr);

  // A checkpoint's config records the replacement, and prepare repeats it on a fresh model.
  quant::QuantConfig config = quant::preset("w8a8");
  config.cle_relu6_to_relu = true;
  const quant::QuantConfig back = quant::QuantConfig::from_json(config.to_json());
  CHECK(back.cle_relu6_to_relu);
  Generator g3(4);
  auto fresh = separable_net(true, g3);
  quant::prepare_qat(*fresh, back);
  for (auto& [name, m] : fresh->named_modules()) CHECK_MESSAGE(m->type_name() != "QuantReLU6", name);
}

TEST_CASE("AdaRound: lower layer error than nearest rounding, deterministic, and the int8 program agrees") {
  Generator g(5);
  auto float_model = models::lenet5_bn(g);
  float_model->train();
  for (int i = 0; i < 5; ++i) run(*float_model, Tensor::randn({16, 1, 28, 28}, g));  // BN statistics
  float_model->eval();
  const auto state = float_model->state_dict();
  auto dataset = intrain::testing::random_digits(96, g);
  const Tensor images = intrain::testing::first_images(dataset, 96);

  auto quantize = [&](const quant::AdaRoundOptions& options) {
    Generator gm(5);
    auto model = models::lenet5_bn(gm);
    model->load_state_dict(state);
    quant::prepare_ptq(*model, quant::preset("w4a8"));
    data::DataLoader loader(dataset, {32, false, 0, false, 0, 1});
    quant::calibrate(*model, loader, 3);
    auto layers = quant::adaround(*model, *float_model, images.narrow(0, 0, 64), options);
    return std::make_pair(model, layers);
  };
  const quant::AdaRoundOptions options{.iterations = 150, .batch_size = 16};
  auto [model, layers] = quantize(options);
  REQUIRE(layers.size() == 5);  // three convs, two linears
  double nearest = 0, learned = 0;
  for (const quant::AdaRoundLayer& l : layers) {
    CAPTURE(l.name);
    MESSAGE(l.name, ": error nearest ", l.error_nearest, ", adaround ", l.error_adaround, ", ", l.changed, "/",
            l.weights, " weights rounded the other way");
    // Nearest rounding is where the search starts: a layer may keep it (the 150-weight
    // first conv does here), but never ends worse.
    CHECK(l.error_adaround <= l.error_nearest);
    nearest += l.error_nearest;
    learned += l.error_adaround;
  }
  CHECK(learned < 0.8 * nearest);
  auto [again, layers_again] = quantize(options);
  CHECK(again->state_dict().at("conv1.weight").to_vector<float>() ==
        model->state_dict().at("conv1.weight").to_vector<float>());

  const int8::Program program = quant::convert(*model, {1, 28, 28}, "lenet5_bn");
  CHECK(intrain::testing::int8_agreement(*model, program, images.narrow(0, 64, 32)) >= 30);
}

TEST_CASE("high-bias absorption moves β − 3γ out of each ReLU's input and keeps the function") {
  // conv → BN (β large against γ) → ReLU → conv without bias (unpadded) → BN → ReLU → pool →
  // flatten → linear: the first pair absorbs into BN2's running mean, the second into the
  // linear's bias. Small weights keep every normalized activation within 3 of its mean, where
  // absorption is exact.
  Generator g(11);
  auto bn = [&g](int64_t c) {
    auto b = std::make_shared<nn::BatchNorm2d>(c);
    for (int64_t i = 0; i < c; ++i) {
      b->weight.data<float>()[i] = (i % 2 ? -1.0f : 1.0f) * (0.1f + 0.2f * g.uniform());
      b->bias.data<float>()[i] = 1.0f + g.uniform();
      b->running_mean.data<float>()[i] = 0.0f;
      b->running_var.data<float>()[i] = 1.0f;
    }
    return b;
  };
  auto net = std::make_shared<nn::Sequential>();
  net->add(std::make_shared<nn::Conv2d>(1, 8, 3, nn::Conv2dOptions{.stride = 1, .padding = 1}, g));
  net->add(bn(8));
  net->add(std::make_shared<nn::ReLU>());
  net->add(std::make_shared<nn::Conv2d>(8, 6, 3, nn::Conv2dOptions{.stride = 1, .padding = 0, .bias = false}, g));
  net->add(bn(6));
  net->add(std::make_shared<nn::ReLU>());
  net->add(std::make_shared<nn::AdaptiveAvgPool2d>());
  net->add(std::make_shared<nn::Flatten>());
  net->add(std::make_shared<nn::Linear>(6, 4, true, g));
  net->eval();
  for (int64_t layer : {0, 3}) {
    Tensor& w = dynamic_cast<nn::Conv2d&>((*net)[layer]).weight;
    for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] *= 0.05f;
  }
  const Tensor x = Tensor::rand({4, 1, 10, 10}, g, -1.0f, 1.0f);
  const Tensor before = run(*net, x);

  const quant::EqualizeResult r = quant::equalize_cross_layer(*net, {.absorb_bias = true});
  CHECK(r.pairs == 2);
  CHECK(r.biases_absorbed == 8 + 6);
  CHECK(relative_difference(run(*net, x), before) < 1e-5f);
  // Each absorbing channel keeps 3|γ| of its bias (γ after equalization's rescaling).
  const auto& bn1 = dynamic_cast<nn::BatchNorm2d&>((*net)[1]);
  for (int64_t i = 0; i < 8; ++i)
    CHECK(bn1.bias.data<float>()[i] == doctest::Approx(3.0f * std::abs(bn1.weight.data<float>()[i])).epsilon(1e-5));

  // A pair whose layer 2 has no bias and no batch norm after it has nowhere to put W2 · c.
  auto bare = std::make_shared<nn::Sequential>();
  bare->add(std::make_shared<nn::Conv2d>(1, 4, 3, nn::Conv2dOptions{.stride = 1, .padding = 1}, g));
  bare->add(bn(4));
  bare->add(std::make_shared<nn::ReLU>());
  bare->add(std::make_shared<nn::Conv2d>(4, 2, 1, nn::Conv2dOptions{.bias = false}, g));
  bare->eval();
  CHECK(quant::equalize_cross_layer(*bare, {.absorb_bias = true}).biases_absorbed == 0);
}
