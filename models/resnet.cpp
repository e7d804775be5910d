#include "models/resnet.hpp"

#include "nn/init.hpp"

namespace intrain::models {

using nn::make;
using nn::ModulePtr;

namespace {

ModulePtr conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, Generator& gen) {
  auto c = make<nn::Conv2d>(in, out, kernel,
                            nn::Conv2dOptions{.stride = stride, .padding = (kernel - 1) / 2, .bias = false}, gen);
  nn::init::kaiming_normal(c->weight, nn::init::FanMode::fan_out, gen);
  return c;
}

ModulePtr basic_block(int64_t in, int64_t out, int64_t stride, Generator& gen) {
  auto body = std::make_shared<nn::Sequential>(std::initializer_list<ModulePtr>{
      conv(in, out, 3, stride, gen), make<nn::BatchNorm2d>(out), make<nn::ReLU>(), conv(out, out, 3, 1, gen),
      make<nn::BatchNorm2d>(out)});
  ModulePtr shortcut;
  if (stride != 1 || in != out)
    shortcut = std::make_shared<nn::Sequential>(
        std::initializer_list<ModulePtr>{conv(in, out, 1, stride, gen), make<nn::BatchNorm2d>(out)});
  return std::make_shared<nn::Sequential>(
      std::initializer_list<ModulePtr>{make<nn::Residual>(body, shortcut), make<nn::ReLU>()});
}

}  // namespace

std::shared_ptr<nn::Sequential> resnet18(const ResNetOptions& o, Generator& gen) {
  INTRAIN_CHECK(o.classes >= 1 && o.in_channels >= 1, "resnet18: invalid classes ", o.classes, " or input channels ",
                o.in_channels);
  auto net = std::make_shared<nn::Sequential>();
  if (o.small_input) {
    net->add(conv(o.in_channels, 64, 3, 1, gen));
    net->add(make<nn::BatchNorm2d>(64));
    net->add(make<nn::ReLU>());
  } else {
    net->add(conv(o.in_channels, 64, 7, 2, gen));
    net->add(make<nn::BatchNorm2d>(64));
    net->add(make<nn::ReLU>());
    net->add(make<nn::MaxPool2d>(3, 2, 1));
  }
  int64_t in = 64;
  for (auto [width, stride] : {std::pair<int64_t, int64_t>{64, 1}, {128, 2}, {256, 2}, {512, 2}}) {
    net->add(basic_block(in, width, stride, gen));
    net->add(basic_block(width, width, 1, gen));
    in = width;
  }
  net->add(make<nn::AdaptiveAvgPool2d>());
  net->add(make<nn::Flatten>());
  net->add(make<nn::Linear>(512, o.classes, true, gen));
  return net;
}

}  // namespace intrain::models
