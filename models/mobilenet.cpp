#include "models/mobilenet.hpp"

#include <algorithm>

#include "nn/init.hpp"

namespace intrain::models {

using nn::make;
using nn::ModulePtr;
using Layers = std::initializer_list<ModulePtr>;

namespace {

// conv (no bias) → BN → activation; the activation is skipped for linear bottlenecks.
void conv_bn(nn::Sequential& seq, int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups,
             int activation, Generator& gen) {  // activation: 0 none, 1 ReLU, 2 ReLU6
  auto conv = make<nn::Conv2d>(in, out, kernel,
                               nn::Conv2dOptions{.stride = stride, .padding = (kernel - 1) / 2, .groups = groups, .bias = false}, gen);
  nn::init::kaiming_normal(conv->weight, nn::init::FanMode::fan_out, gen);  // as torchvision initializes MobileNets
  seq.add(conv);
  seq.add(make<nn::BatchNorm2d>(out));
  if (activation == 1) seq.add(make<nn::ReLU>());
  if (activation == 2) seq.add(make<nn::ReLU6>());
}

void check(const MobileNetOptions& o, const char* who) {
  INTRAIN_CHECK(o.width > 0 && o.width <= 4 && o.classes >= 1 && o.in_channels >= 1, who, ": invalid options (width ",
                o.width, ", classes ", o.classes, ", input channels ", o.in_channels, ")");
}

}  // namespace

int64_t make_divisible(double value, int64_t divisor) {
  int64_t rounded = std::max(divisor, static_cast<int64_t>(value + static_cast<double>(divisor) / 2) / divisor * divisor);
  if (static_cast<double>(rounded) < 0.9 * value) rounded += divisor;
  return rounded;
}

std::shared_ptr<nn::Sequential> mobilenet_v1(const MobileNetOptions& o, Generator& gen) {
  check(o, "mobilenet_v1");
  const int act = o.relu6 ? 2 : 1;
  auto channels = [&](int64_t c) { return static_cast<int64_t>(static_cast<float>(c) * o.width); };
  auto net = std::make_shared<nn::Sequential>();
  conv_bn(*net, o.in_channels, channels(32), 3, o.small_input ? 1 : 2, 1, act, gen);
  // (output channels, stride) of the 13 depthwise-separable blocks.
  const std::pair<int64_t, int64_t> blocks[] = {{64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1},
                                                {512, 2}, {512, 1}, {512, 1}, {512, 1}, {512, 1},
                                                {512, 1}, {1024, 2}, {1024, 1}};
  int64_t in = channels(32);
  for (auto [c, stride] : blocks) {
    const int64_t out = channels(c);
    auto block = std::make_shared<nn::Sequential>();
    conv_bn(*block, in, in, 3, stride, in, act, gen);  // depthwise
    conv_bn(*block, in, out, 1, 1, 1, act, gen);       // pointwise
    net->add(block);
    in = out;
  }
  net->add(make<nn::AdaptiveAvgPool2d>());
  net->add(make<nn::Flatten>());
  net->add(make<nn::Linear>(in, o.classes, true, gen));
  return net;
}

std::shared_ptr<nn::Sequential> mobilenet_v2(const MobileNetOptions& o, Generator& gen) {
  check(o, "mobilenet_v2");
  struct Stage {
    int64_t expand, channels, repeats, stride;
  };
  const Stage stages[] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                          {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  auto net = std::make_shared<nn::Sequential>();
  int64_t in = make_divisible(32 * o.width);
  const int64_t last = make_divisible(1280 * std::max(1.0f, o.width));
  conv_bn(*net, o.in_channels, in, 3, o.small_input ? 1 : 2, 1, 2, gen);
  bool first_downsample = true;
  for (const Stage& stage : stages) {
    const int64_t out = make_divisible(static_cast<double>(stage.channels) * o.width);
    for (int64_t i = 0; i < stage.repeats; ++i) {
      int64_t stride = i == 0 ? stage.stride : 1;
      if (stride == 2 && first_downsample) {
        first_downsample = false;
        if (o.small_input) stride = 1;
      }
      const int64_t hidden = in * stage.expand;
      auto body = std::make_shared<nn::Sequential>();
      if (stage.expand != 1) conv_bn(*body, in, hidden, 1, 1, 1, 2, gen);  // expand
      conv_bn(*body, hidden, hidden, 3, stride, hidden, 2, gen);           // depthwise
      conv_bn(*body, hidden, out, 1, 1, 1, 0, gen);                        // linear bottleneck
      if (stride == 1 && in == out) net->add(make<nn::Residual>(body));
      else net->add(body);
      in = out;
    }
  }
  conv_bn(*net, in, last, 1, 1, 1, 2, gen);
  net->add(make<nn::AdaptiveAvgPool2d>());
  net->add(make<nn::Flatten>());
  net->add(make<nn::Dropout>(o.dropout));
  auto fc = make<nn::Linear>(last, o.classes, true, gen);
  nn::init::normal(fc->weight, 0.0f, 0.01f, gen);
  nn::init::constant(fc->bias, 0.0f);
  net->add(fc);
  return net;
}

}  // namespace intrain::models
