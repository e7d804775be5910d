#pragma once
// Building a model for a checkpoint: float, or fake-quantized with the quantization
// config the checkpoint records.
#include <optional>
#include <string>
#include <vector>

#include "nn/module.hpp"
#include "quant/config.hpp"
#include "quant/prepare.hpp"
#include "train/checkpoint.hpp"

namespace intrain::cli {

struct LoadedModel {
  nn::ModulePtr model;
  train::RunState state;
  std::optional<quant::QuantConfig> quant;
  std::vector<quant::QuantizedLayer> layers;
};

// The model to build: `model_name` when given, else the one the checkpoint records.
std::string resolve_model(const std::string& model_name, const train::RunState& state, const std::string& path);
// Builds the model, prepares it when the checkpoint is fake-quantized, loads the weights.
LoadedModel load_model(const std::string& model_name, const std::string& checkpoint);
// The float twin of a (possibly fake-quantized) checkpoint: its float tensors only.
nn::ModulePtr load_float_weights(const std::string& model_name, const std::string& checkpoint);
// Errors when the checkpoint names another model.
void check_model_matches(const train::RunState& state, const std::string& model_name, const std::string& path);

}  // namespace intrain::cli
