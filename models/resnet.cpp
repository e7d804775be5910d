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

using Named = std::initializer_list<std::pair<std::string, ModulePtr>>;

// torchvision's BasicBlock: conv1, bn1, relu, conv2, bn2 and the projection "downsample"
// on the block itself (the body is a transparent child), then the ReLU after the sum.
ModulePtr basic_block(int64_t in, int64_t out, int64_t stride, Generator& gen) {
  auto body = std::make_shared<nn::Sequential>(Named{{"conv1", conv(in, out, 3, stride, gen)},
                                                     {"bn1", make<nn::BatchNorm2d>(out)},
                                                     {"relu", make<nn::ReLU>()},
                                                     {"conv2", conv(out, out, 3, 1, gen)},
                                                     {"bn2", make<nn::BatchNorm2d>(out)}});
  ModulePtr shortcut;
  if (stride != 1 || in != out)
    shortcut = std::make_shared<nn::Sequential>(
        std::initializer_list<ModulePtr>{conv(in, out, 1, stride, gen), make<nn::BatchNorm2d>(out)});
  return std::make_shared<nn::Sequential>(
      Named{{"", make<nn::Residual>(body, shortcut, nn::ResidualNames{.body = "", .shortcut = "downsample"})},
            {"relu_out", make<nn::ReLU>()}});
}

}  // namespace

std::shared_ptr<nn::Sequential> resnet18(const ResNetOptions& o, Generator& gen) {
  INTRAIN_CHECK(o.classes >= 1 && o.in_channels >= 1, "resnet18: invalid classes ", o.classes, " or input channels ",
                o.in_channels);
  auto net = std::make_shared<nn::Sequential>();
  if (o.small_input) {
    net->add("conv1", conv(o.in_channels, 64, 3, 1, gen));
    net->add("bn1", make<nn::BatchNorm2d>(64));
    net->add("relu", make<nn::ReLU>());
  } else {
    net->add("conv1", conv(o.in_channels, 64, 7, 2, gen));
    net->add("bn1", make<nn::BatchNorm2d>(64));
    net->add("relu", make<nn::ReLU>());
    net->add("maxpool", make<nn::MaxPool2d>(3, 2, 1));
  }
  int64_t in = 64;
  int layer = 1;
  for (auto [width, stride] : {std::pair<int64_t, int64_t>{64, 1}, {128, 2}, {256, 2}, {512, 2}}) {
    auto blocks = std::make_shared<nn::Sequential>();
    blocks->add(basic_block(in, width, stride, gen));
    blocks->add(basic_block(width, width, 1, gen));
    net->add("layer" + std::to_string(layer++), blocks);
    in = width;
  }
  net->add("avgpool", make<nn::AdaptiveAvgPool2d>());
  net->add("flatten", make<nn::Flatten>());
  net->add("fc", make<nn::Linear>(512, o.classes, true, gen));
  return net;
}

}  // namespace intrain::models
