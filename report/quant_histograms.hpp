#pragma once
// Histograms of a fake-quantized model's weights and activations, each with the range its
// quantizer represents (the ends of the integer grid, s·(qmin − z) and s·(qmax − z)).
#include <vector>

#include "core/tensor.hpp"
#include "nn/module.hpp"
#include "report/histogram.hpp"

namespace intrain::report {

// Every quantized conv and linear layer's weight as its forward pass quantizes it (BN-scaled
// when folding). Per-channel weights mark the widest and the narrowest channel's grid;
// normalized (SAT/DoReFa) weights, whose grid is not in the weight's units, mark none.
std::vector<Histogram> weight_histograms(nn::Module& model, int bins = 64);

// The input of every activation quantizer (the network input's too) on `batch`, run in
// eval mode, with the quantizer's range.
std::vector<Histogram> activation_histograms(nn::Module& model, const Tensor& batch, int bins = 64);

}  // namespace intrain::report
