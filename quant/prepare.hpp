#pragma once
// Model transforms: swap a float model's Conv2d / Linear for quantized twins and its ReLUs
// for quantized activations, following a QuantConfig; then train (QAT) or calibrate (PTQ).
#include <string>
#include <vector>

#include "data/loader.hpp"
#include "nn/module.hpp"
#include "quant/config.hpp"

namespace intrain::quant {

struct QuantizedLayer {
  std::string name;  // dotted module path
  std::string kind;  // "conv", "linear", "activation", "avg_pool", "residual_add", "input"
  int bits = 0;
};

// In place: the float weights are shared, so load the float checkpoint first. A Conv2d
// directly followed by a BatchNorm2d folds it (see QuantConv2d). The first conv/linear also
// quantizes the network input (8 bits) when activations are quantized. Returns the layers
// quantized; throws if an override pattern matches no layer.
std::vector<QuantizedLayer> prepare_qat(nn::Module& model, const QuantConfig& config);

// prepare_qat with the min-max weight quantizer and `config.observer` on activations,
// then every activation quantizer observes instead of quantizing until calibrate() ends.
std::vector<QuantizedLayer> prepare_ptq(nn::Module& model, QuantConfig config);
// Runs up to `batches` batches in eval mode to collect ranges, then freezes them.
void calibrate(nn::Module& model, data::DataLoader& loader, int64_t batches);

// PTQ's optional bias correction, after calibration: every quantized conv and linear layer
// adds back the mean output shift its weight quantization causes on `batch` (see
// QuantConv2d::correct_bias). Returns how many layers were corrected.
int64_t correct_bias(nn::Module& model, const Tensor& batch);

// Makes every BatchNorm2d normalize with its running statistics from now on.
void freeze_batch_norm(nn::Module& model);

// Bytes of the weights at their quantized widths (float layers at 32 bits), plus per
// channel scales; and the float32 size for comparison.
struct ModelSize {
  int64_t quantized_bytes = 0, float_bytes = 0;
};
ModelSize model_size(nn::Module& model);

}  // namespace intrain::quant
