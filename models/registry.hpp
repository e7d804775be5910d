#pragma once
// Models by name, for the command line and tools.
#include <string>
#include <vector>

#include "nn/module.hpp"

namespace intrain::models {

std::vector<std::string> model_names();
// Throws an Error listing the known names when `name` is not one of them.
nn::ModulePtr make_model(const std::string& name, Generator& gen = default_generator());

}  // namespace intrain::models
