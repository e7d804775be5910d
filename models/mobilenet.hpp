#pragma once
// The MobileNet family with the standard configurations, plus options to train on small
// images: `in_channels` (1 for MNIST) and `small_input` (a stride-1 stem, and for V2 the
// first stride-2 stage at stride 1, so 28x28/32x32 inputs keep enough resolution).
#include "nn/layers.hpp"

namespace intrain::models {

struct MobileNetOptions {
  float width = 1.0f;        // channel multiplier
  int64_t classes = 1000;
  int64_t in_channels = 3;
  bool small_input = false;
  bool relu6 = false;        // V1: ReLU (Howard et al.) or ReLU6 (QuantLib's PACT notebook uses ReLU)
  float dropout = 0.2f;      // V2's classifier dropout
};

// Howard et al. 2017: 3x3 stem, 13 depthwise-separable blocks, global pool, linear.
// 4,231,976 parameters at width 1.0 with 1000 classes; 2,585,560 at 0.75.
std::shared_ptr<nn::Sequential> mobilenet_v1(const MobileNetOptions& options = {}, Generator& gen = default_generator());

// Sandler et al. 2018, as torchvision builds it (channels rounded to multiples of 8):
// inverted residuals with linear bottlenecks and identity skip additions, ReLU6.
// 3,504,872 parameters at width 1.0 with 1000 classes.
std::shared_ptr<nn::Sequential> mobilenet_v2(const MobileNetOptions& options = {}, Generator& gen = default_generator());

// torchvision's _make_divisible: round to the nearest multiple of `divisor`, never more
// than 10% down.
int64_t make_divisible(double value, int64_t divisor = 8);

}  // namespace intrain::models
