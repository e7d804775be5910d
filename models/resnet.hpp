#pragma once
// ResNet-18 (He et al. 2016) as torchvision builds it: 11,689,512 parameters with 1000
// classes. Basic blocks are Residual(body, shortcut) followed by a ReLU; the shortcut is a
// 1x1 conv + BN where the block changes resolution or width. `small_input` replaces the
// 7x7/2 stem and max pool with a 3x3/1 conv for 28x28/32x32 images.
#include "nn/layers.hpp"

namespace intrain::models {

struct ResNetOptions {
  int64_t classes = 1000;
  int64_t in_channels = 3;
  bool small_input = false;
};

std::shared_ptr<nn::Sequential> resnet18(const ResNetOptions& options = {}, Generator& gen = default_generator());

}  // namespace intrain::models
