#pragma once
// The LeNet family for 28x28 single-channel digits.
#include "nn/layers.hpp"

namespace intrain::models {

// LeCun et al. 1998 as in Caffe's and PyTorch's MNIST examples: conv 1→20 k5, ReLU,
// maxpool 2, conv 20→50 k5, ReLU, maxpool 2, linear 800→500, ReLU, linear 500→10.
std::shared_ptr<nn::Sequential> lenet(Generator& gen = default_generator());

// LeNet-5 with batch norm: conv 1→6 k5 (padding 2: the 28x28 input seen as 32x32), BN,
// ReLU, maxpool; conv 6→16 k5, BN, ReLU, maxpool; conv 16→120 k5, BN, ReLU, dropout;
// linear 120→84, ReLU, dropout; linear 84→10. `gen` initializes the weights; dropout
// draws from the default generator.
std::shared_ptr<nn::Sequential> lenet5_bn(Generator& gen = default_generator(), float dropout = 0.2f);

}  // namespace intrain::models
