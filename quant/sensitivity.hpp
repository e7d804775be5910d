#pragma once
// Which layer hurts when quantized: quantize one conv or linear layer at a time (the rest of
// the network stays float), calibrate it as PTQ does, and measure the network's accuracy and
// output SQNR against the float model — AIMET AMP's "phase 1" and NNCF's per-layer
// sensitivity, measured rather than estimated. quant/bit_allocation.hpp turns the table into
// per-layer bit widths under a size budget.
//
//   auto evaluation = quant::take_batches(test_loader, 2000);
//   quant::SensitivityResult s = quant::layer_sensitivity(*float_model, calibration_loader, evaluation);
//   std::printf("%s", quant::format_sensitivity(s).c_str());
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/loader.hpp"
#include "nn/module.hpp"
#include "quant/config.hpp"

namespace intrain::quant {

// A layer with weights, as prepare_ptq quantizes it.
struct WeightLayer {
  std::string name;  // dotted module path ("features.3.0"), the name overrides match
  std::string kind;  // "conv" or "linear"
  int64_t weights = 0;          // weight elements: its int8 program bytes at 8 bits
  int64_t output_channels = 0;  // each costs a bias, a multiplier and a shift in the program
};
// The model's conv and linear layers in execution (registration) order.
std::vector<WeightLayer> weight_layers(nn::Module& model);

struct LayerSensitivity {
  std::string name, kind;
  int weight_bits = 0, activation_bits = 0;
  int64_t weights = 0;
  double accuracy = 0;       // top-1 on the evaluation batches (0 without labels)
  double accuracy_drop = 0;  // float accuracy − accuracy (negative: quantizing helped)
  double output_sqnr_db = 0; // network logits against the float model's; +inf when identical
};

struct SensitivityResult {
  bool has_labels = false;
  int64_t images = 0;  // evaluation images
  double float_accuracy = 0;
  std::vector<LayerSensitivity> layers;  // layer by layer, each at every width asked, in order

  // The entry for `name` at `weight_bits`, or null.
  const LayerSensitivity* find(const std::string& name, int weight_bits) const;
};

struct SensitivityOptions {
  std::vector<int> weight_bits = {8, 4, 2};  // each layer is measured at each of these
  // The measured layer's output activation (the ReLU or batch norm after it) at these bits
  // and its input at 8 (as the integer program takes codes); 0: its weights only.
  int activation_bits = 8;
  // Granularity, power-of-two scales and the activation observer (default: as ptq's).
  QuantConfig config;
  int64_t calibration_batches = 4;
  std::vector<std::string> layers;  // '*' patterns of the layers to measure; empty: all
  // Called after each measurement (progress for long runs).
  std::function<void(const LayerSensitivity&)> on_result;
};

// `float_model`: eval-mode float model. `calibration`: its first `calibration_batches`
// batches of epoch 0 calibrate each layer's activation ranges (so the result is
// deterministic for the loader's seed). `evaluation`: the batches accuracy and SQNR are
// measured on (labels optional: undefined labels give SQNR only). The model's layers are
// swapped for quantized twins during the call and put back before it returns, also on error.
// Throws naming the pattern when one of `options.layers` matches no layer.
SensitivityResult layer_sensitivity(nn::Module& float_model, data::DataLoader& calibration,
                                    const std::vector<data::Batch>& evaluation, const SensitivityOptions& options = {});

// The first `images` examples of the loader's epoch `epoch` as batches (fewer when the
// dataset is smaller), for layer_sensitivity's evaluation.
std::vector<data::Batch> take_batches(data::DataLoader& loader, int64_t images, int64_t epoch = 0);

// The table: one line per layer and width.
std::string format_sensitivity(const SensitivityResult& result);
// The JSON the HTML report reads: {"model", "dataset", "float_accuracy", "metric",
// "layers": [{"name", "weight_bits", "activation_bits", "weights", "accuracy",
// "accuracy_drop", "output_sqnr_db"}, ...]}; an infinite SQNR is written as null, and
// "metric" is "accuracy_drop" with labels, else "output_sqnr_db".
std::string sensitivity_json(const SensitivityResult& result, const std::string& model, const std::string& dataset);
// Reads that JSON back (a table measured once, reused by ptq --budget-bytes); `name`
// labels the errors.
SensitivityResult parse_sensitivity_json(const std::string& text, const std::string& name);

}  // namespace intrain::quant
