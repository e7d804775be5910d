#include "models/lenet.hpp"

namespace intrain::models {

using nn::make;

// Named as the classic PyTorch LeNet names its layers (conv1, conv2, fc1, fc2), so a state
// dict trained there loads as it is.
std::shared_ptr<nn::Sequential> lenet(Generator& gen) {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::pair<std::string, nn::ModulePtr>>{
      {"conv1", make<nn::Conv2d>(1, 20, 5, nn::Conv2dOptions{}, gen)},
      {"relu1", make<nn::ReLU>()},
      {"pool1", make<nn::MaxPool2d>(2)},
      {"conv2", make<nn::Conv2d>(20, 50, 5, nn::Conv2dOptions{}, gen)},
      {"relu2", make<nn::ReLU>()},
      {"pool2", make<nn::MaxPool2d>(2)},
      {"flatten", make<nn::Flatten>()},
      {"fc1", make<nn::Linear>(800, 500, true, gen)},
      {"relu3", make<nn::ReLU>()},
      {"fc2", make<nn::Linear>(500, 10, true, gen)},
  });
}

std::shared_ptr<nn::Sequential> lenet5_bn(Generator& gen, float dropout) {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::pair<std::string, nn::ModulePtr>>{
      {"conv1", make<nn::Conv2d>(1, 6, 5, nn::Conv2dOptions{.padding = 2}, gen)},
      {"bn1", make<nn::BatchNorm2d>(6)},
      {"relu1", make<nn::ReLU>()},
      {"pool1", make<nn::MaxPool2d>(2)},
      {"conv2", make<nn::Conv2d>(6, 16, 5, nn::Conv2dOptions{}, gen)},
      {"bn2", make<nn::BatchNorm2d>(16)},
      {"relu2", make<nn::ReLU>()},
      {"pool2", make<nn::MaxPool2d>(2)},
      {"conv3", make<nn::Conv2d>(16, 120, 5, nn::Conv2dOptions{}, gen)},
      {"bn3", make<nn::BatchNorm2d>(120)},
      {"relu3", make<nn::ReLU>()},
      {"dropout1", make<nn::Dropout>(dropout)},
      {"flatten", make<nn::Flatten>()},
      {"fc1", make<nn::Linear>(120, 84, true, gen)},
      {"relu4", make<nn::ReLU>()},
      {"dropout2", make<nn::Dropout>(dropout)},
      {"fc2", make<nn::Linear>(84, 10, true, gen)},
  });
}

}  // namespace intrain::models
