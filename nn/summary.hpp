#pragma once
// A torchinfo-style table of a model: each layer's dotted name, type, output shape and
// parameter count, found by running one forward pass on an example input.
#include <map>
#include <string>

#include "nn/module.hpp"

namespace intrain::nn {

std::string summary(Module& model, const Shape& input_shape);

// Runs model(input) without gradients and returns every module's output by its dotted
// name (the whole model's under ""), for per-layer comparisons such as quantization SQNR.
std::map<std::string, Tensor> capture_outputs(Module& model, const Tensor& input);
// The same for every module's input.
std::map<std::string, Tensor> capture_inputs(Module& model, const Tensor& input);

namespace detail {
// Called by Module::operator(); records input and output while a summary or capture runs.
void record(const Module* module, const Tensor& input, const Tensor& output);
// Whether a summary or capture is recording: then every module runs on its own (none is
// fused into its neighbour), so each one's input and output exist.
bool recording();
}  // namespace detail

}  // namespace intrain::nn
