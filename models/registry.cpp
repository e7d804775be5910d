#include "models/registry.hpp"

#include "models/lenet.hpp"

namespace intrain::models {

std::vector<std::string> model_names() { return {"lenet", "lenet5_bn"}; }

nn::ModulePtr make_model(const std::string& name, Generator& gen) {
  if (name == "lenet") return lenet(gen);
  if (name == "lenet5_bn") return lenet5_bn(gen);
  std::string known;
  for (const std::string& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("unknown model '" + name + "' (known: " + known + ")");
}

}  // namespace intrain::models
