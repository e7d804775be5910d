#pragma once
// Training checkpoints in one safetensors file: the model's state under its own dotted
// names (so PyTorch tools read it as a plain state_dict), the optimizer's state under
// "optimizer.", and the position of the run (epoch, step, best accuracy, RNG state) in the
// metadata. Written atomically.
#include <cstdint>
#include <string>

#include "nn/module.hpp"
#include "nn/optimizer.hpp"

namespace intrain::train {

struct RunState {
  int64_t epoch = 0;        // epochs completed
  int64_t global_step = 0;  // optimizer steps taken
  double best_accuracy = 0;
  std::string model_name;
  std::string rng_state;  // the default generator (dropout), to resume exactly
  std::string quant_config;  // JSON of the quantization config for fake-quantized models; empty for float
};

// The run state stored in a checkpoint's metadata, without loading any tensor into a model
// (to learn which model and quantization config to build before loading).
RunState read_checkpoint_state(const std::string& path);

void save_checkpoint(const std::string& path, const nn::Module& model, const nn::Optimizer* optimizer,
                     const RunState& state);
// Loads into `model` (strict: an error names any missing, unexpected or mis-shaped tensor)
// and, when given, `optimizer`; returns the run state (defaults for a weights-only file).
RunState load_checkpoint(const std::string& path, nn::Module& model, nn::Optimizer* optimizer = nullptr);

}  // namespace intrain::train
