#include "models/mobilenet.hpp"

#include <algorithm>

#include "nn/init.hpp"

namespace intrain::models {

using nn::make;
using nn::ModulePtr;
using Layers = std::initializer_list<ModulePtr>;

namespace {

enum class Act { relu, relu6 };

std::shared_ptr<nn::Conv2d> conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups, Generator& gen) {
  auto c = make<nn::Conv2d>(in, out, kernel,
                            nn::Conv2dOptions{.stride = stride, .padding = (kernel - 1) / 2, .groups = groups, .bias = false}, gen);
  nn::init::kaiming_normal(c->weight, nn::init::FanMode::fan_out, gen);  // as torchvision initializes MobileNets
  return c;
}

ModulePtr activation(Act act) {
  if (act == Act::relu6) return make<nn::ReLU6>();
  return make<nn::ReLU>();
}

// conv (no bias) → BN → activation as one block, torchvision's Conv2dNormActivation: its
// layers are named "0", "1", "2".
std::shared_ptr<nn::Sequential> conv_bn_act(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups,
                                            Act act, Generator& gen) {
  return std::make_shared<nn::Sequential>(
      Layers{conv(in, out, kernel, stride, groups, gen), make<nn::BatchNorm2d>(out), activation(act)});
}

void check(const MobileNetOptions& o, const char* who) {
  INTRAIN_CHECK(o.width > 0 && o.width <= 4 && o.classes >= 1 && o.in_channels >= 1, who, ": invalid options (width ",
                o.width, ", classes ", o.classes, ", input channels ", o.in_channels, ")");
}

// features → global average pool → flatten → classifier, as torchvision lays out its
// MobileNets (the pool and flatten are in its forward(); they hold no state).
std::shared_ptr<nn::Sequential> head(ModulePtr features, ModulePtr classifier) {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::pair<std::string, ModulePtr>>{
      {"features", std::move(features)},
      {"avgpool", make<nn::AdaptiveAvgPool2d>()},
      {"flatten", make<nn::Flatten>()},
      {"classifier", std::move(classifier)}});
}

}  // namespace

int64_t make_divisible(double value, int64_t divisor) {
  int64_t rounded = std::max(divisor, static_cast<int64_t>(value + static_cast<double>(divisor) / 2) / divisor * divisor);
  if (static_cast<double>(rounded) < 0.9 * value) rounded += divisor;
  return rounded;
}

std::shared_ptr<nn::Sequential> mobilenet_v1(const MobileNetOptions& o, Generator& gen) {
  check(o, "mobilenet_v1");
  const Act act = o.relu6 ? Act::relu6 : Act::relu;
  auto channels = [&](int64_t c) { return static_cast<int64_t>(static_cast<float>(c) * o.width); };
  auto features = std::make_shared<nn::Sequential>();
  features->add(conv_bn_act(o.in_channels, channels(32), 3, o.small_input ? 1 : 2, 1, act, gen));
  // (output channels, stride) of the 13 depthwise-separable blocks.
  const std::pair<int64_t, int64_t> blocks[] = {{64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1},
                                                {512, 2}, {512, 1}, {512, 1}, {512, 1}, {512, 1},
                                                {512, 1}, {1024, 2}, {1024, 1}};
  int64_t in = channels(32);
  for (auto [c, stride] : blocks) {
    const int64_t out = channels(c);
    // features.N.0-2: depthwise conv, BN, activation; features.N.3-5: pointwise.
    features->add(std::make_shared<nn::Sequential>(
        Layers{conv(in, in, 3, stride, in, gen), make<nn::BatchNorm2d>(in), activation(act),
               conv(in, out, 1, 1, 1, gen), make<nn::BatchNorm2d>(out), activation(act)}));
    in = out;
  }
  return head(features, make<nn::Linear>(in, o.classes, true, gen));
}

std::shared_ptr<nn::Sequential> mobilenet_v2(const MobileNetOptions& o, Generator& gen) {
  check(o, "mobilenet_v2");
  struct Stage {
    int64_t expand, channels, repeats, stride;
  };
  const Stage stages[] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                          {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  auto features = std::make_shared<nn::Sequential>();
  int64_t in = make_divisible(32 * o.width);
  const int64_t last = make_divisible(1280 * std::max(1.0f, o.width));
  features->add(conv_bn_act(o.in_channels, in, 3, o.small_input ? 1 : 2, 1, Act::relu6, gen));
  bool first_downsample = true;
  for (const Stage& stage : stages) {
    const int64_t out = make_divisible(static_cast<double>(stage.channels) * o.width);
    for (int64_t i = 0; i < stage.repeats; ++i) {
      int64_t stride = i == 0 ? stage.stride : 1;
      if (stride == 2 && first_downsample) {
        first_downsample = false;
        if (o.small_input) stride = 1;
      }
      // torchvision's InvertedResidual: its layers in a Sequential named "conv".
      const int64_t hidden = in * stage.expand;
      auto body = std::make_shared<nn::Sequential>();
      if (stage.expand != 1) body->add(conv_bn_act(in, hidden, 1, 1, 1, Act::relu6, gen));  // expand
      body->add(conv_bn_act(hidden, hidden, 3, stride, hidden, Act::relu6, gen));           // depthwise
      body->add(conv(hidden, out, 1, 1, 1, gen));                                            // linear bottleneck
      body->add(make<nn::BatchNorm2d>(out));
      if (stride == 1 && in == out) features->add(make<nn::Residual>(body, nullptr, nn::ResidualNames{.body = "conv"}));
      else features->add(std::make_shared<nn::Sequential>(std::initializer_list<std::pair<std::string, ModulePtr>>{{"conv", body}}));
      in = out;
    }
  }
  features->add(conv_bn_act(in, last, 1, 1, 1, Act::relu6, gen));
  auto fc = make<nn::Linear>(last, o.classes, true, gen);
  nn::init::normal(fc->weight, 0.0f, 0.01f, gen);
  nn::init::constant(fc->bias, 0.0f);
  return head(features, std::make_shared<nn::Sequential>(Layers{make<nn::Dropout>(o.dropout), fc}));
}

}  // namespace intrain::models
