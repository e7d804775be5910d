#pragma once
// Training checkpoints: a safetensors file with the model's state under its own dotted
// (torchvision) names and nothing else, so PyTorch's load_state_dict takes it as it is, and
// the position of the run (epoch, step, best accuracy, RNG state, model spec) in its
// metadata; the optimizer's state beside it in "<stem>.optimizer-<step>.safetensors".
// Each file is written atomically, the optimizer's first: the model file names its optimizer
// file and a pairing id both carry, so a run killed between the two writes resumes from the
// previous pair, which is deleted only after the new model file is in place. Files of the
// earlier one-file layout (optimizer tensors under "optimizer.") still load.
#include <cstdint>
#include <string>
#include <vector>

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
  // What the model was trained on, so eval, ptq, qat and convert default to it. Empty (and
  // val_fraction 0) in files written before these were recorded.
  std::string dataset;               // "mnist", "fashion-mnist", "imagefolder:PATH"
  std::vector<int64_t> input_shape;  // per example [C, H, W]
  std::vector<float> mean, std;      // the input normalization
  std::vector<std::string> classes;  // class names in label order
  double val_fraction = 0;           // training images held out to choose the best checkpoint (0: the test split)
};

// The run state stored in a checkpoint's metadata, without loading any tensor into a model
// (to learn which model and quantization config to build before loading).
RunState read_checkpoint_state(const std::string& path);

void save_checkpoint(const std::string& path, const nn::Module& model, const nn::Optimizer* optimizer,
                     const RunState& state);
// Loads into `model` (strict: an error names any missing, unexpected or mis-shaped tensor)
// and, when given, `optimizer`; returns the run state (defaults for a weights-only file).
RunState load_checkpoint(const std::string& path, nn::Module& model, nn::Optimizer* optimizer = nullptr);

// The optimizer file a checkpoint names, as a path beside it; empty when it names none.
std::string optimizer_state_path(const std::string& checkpoint_path);

}  // namespace intrain::train
