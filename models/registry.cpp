#include "models/registry.hpp"

#include "models/lenet.hpp"
#include "models/mobilenet.hpp"
#include "models/resnet.hpp"

namespace intrain::models {

std::vector<std::string> model_names() {
  return {"lenet", "lenet5_bn", "mobilenet_v1", "mobilenet_v2", "resnet18", "mobilenet_v1_mnist", "mobilenet_v2_mnist",
          "resnet18_mnist"};
}

nn::ModulePtr make_model(const std::string& name, Generator& gen) {
  if (name == "lenet") return lenet(gen);
  if (name == "lenet5_bn") return lenet5_bn(gen);
  // ImageNet-sized builders, and their 28x28 single-channel, 10-class variants for MNIST-like
  // data (small-input stem; MobileNetV1 at width 0.75, as the Fashion-MNIST recipe).
  if (name == "mobilenet_v1") return mobilenet_v1({}, gen);
  if (name == "mobilenet_v2") return mobilenet_v2({}, gen);
  if (name == "resnet18") return resnet18({}, gen);
  if (name == "mobilenet_v1_mnist") return mobilenet_v1({.width = 0.75f, .classes = 10, .in_channels = 1, .small_input = true}, gen);
  if (name == "mobilenet_v2_mnist") return mobilenet_v2({.width = 0.5f, .classes = 10, .in_channels = 1, .small_input = true}, gen);
  if (name == "resnet18_mnist") return resnet18({.classes = 10, .in_channels = 1, .small_input = true}, gen);
  std::string known;
  for (const std::string& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("unknown model '" + name + "' (known: " + known + ")");
}

}  // namespace intrain::models
