#pragma once
// A torchinfo-style table of a model: each layer's dotted name, type, output shape and
// parameter count, found by running one forward pass on an example input.
#include <string>

#include "nn/module.hpp"

namespace intrain::nn {

std::string summary(Module& model, const Shape& input_shape);

namespace detail {
// Called by Module::operator(); records the output shape while a summary is running.
void record_output_shape(const Module* module, const Tensor& output);
}  // namespace detail

}  // namespace intrain::nn
