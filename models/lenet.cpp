#include "models/lenet.hpp"

namespace intrain::models {

using nn::make;
using Layers = std::initializer_list<nn::ModulePtr>;

std::shared_ptr<nn::Sequential> lenet(Generator& gen) {
  return std::make_shared<nn::Sequential>(Layers{
      make<nn::Conv2d>(1, 20, 5, nn::Conv2dOptions{}, gen), make<nn::ReLU>(), make<nn::MaxPool2d>(2),
      make<nn::Conv2d>(20, 50, 5, nn::Conv2dOptions{}, gen), make<nn::ReLU>(), make<nn::MaxPool2d>(2),
      make<nn::Flatten>(),
      make<nn::Linear>(800, 500, true, gen), make<nn::ReLU>(),
      make<nn::Linear>(500, 10, true, gen),
  });
}

std::shared_ptr<nn::Sequential> lenet5_bn(Generator& gen, float dropout) {
  return std::make_shared<nn::Sequential>(Layers{
      make<nn::Conv2d>(1, 6, 5, nn::Conv2dOptions{.padding = 2}, gen), make<nn::BatchNorm2d>(6), make<nn::ReLU>(),
      make<nn::MaxPool2d>(2),
      make<nn::Conv2d>(6, 16, 5, nn::Conv2dOptions{}, gen), make<nn::BatchNorm2d>(16), make<nn::ReLU>(),
      make<nn::MaxPool2d>(2),
      make<nn::Conv2d>(16, 120, 5, nn::Conv2dOptions{}, gen), make<nn::BatchNorm2d>(120), make<nn::ReLU>(),
      make<nn::Dropout>(dropout),
      make<nn::Flatten>(),
      make<nn::Linear>(120, 84, true, gen), make<nn::ReLU>(), make<nn::Dropout>(dropout),
      make<nn::Linear>(84, 10, true, gen),
  });
}

}  // namespace intrain::models
