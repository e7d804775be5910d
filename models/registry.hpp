#pragma once
// Models by specification string, for the command line, checkpoints and tools:
// "name" or "name:key=value,..." with the keys width, classes, in_channels, small_input,
// e.g. "mobilenet_v1:width=0.75,classes=10,in_channels=1,small_input=1". Checkpoints record
// the full string, so a model is rebuilt exactly from its checkpoint alone.
#include <functional>
#include <string>
#include <vector>

#include "nn/module.hpp"

namespace intrain::models {

std::vector<std::string> model_names();
// Throws an Error listing the known names or keys when the specification is not valid.
nn::ModulePtr make_model(const std::string& spec, Generator& gen = default_generator());
// The specification of `name` for a dataset of `classes` classes and [channels, side, side]
// images: the MobileNets and ResNet get those, and a small-input stem below 64 pixels.
std::string model_spec(const std::string& name, float width, int64_t classes, int64_t channels, int64_t side);

// Models whose structure comes from outside this library: make_model("PREFIX:ARGUMENT")
// calls the builder registered for PREFIX with ARGUMENT (interop registers "onnx", so
// "onnx:PATH" imports that ONNX file). A hook rather than a dependency: models stays below
// interop, and only programs that link interop (the CLI, its tests) know the prefix.
using ModelSource = std::function<nn::ModulePtr(const std::string& argument)>;
void register_model_source(const std::string& prefix, ModelSource source);

}  // namespace intrain::models
