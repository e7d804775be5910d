#pragma once
// Post-training quantization as library passes over a batch source: calibration, cross-layer
// equalization, AdaRound and bias correction, in the order the recipe runs them. The CLI's
// `intrain ptq` is this plus flags.
//
//   quant::LoaderBatches calibration(loader);
//   quant::PtqOptions options;  options.adaround = true;
//   quant::PtqResult r = quant::quantize_post_training(*model, *float_model, quant::preset("w4a8"), calibration, options);
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "data/loader.hpp"
#include "nn/module.hpp"
#include "quant/adaround.hpp"
#include "quant/config.hpp"
#include "quant/equalize.hpp"
#include "quant/prepare.hpp"

namespace intrain::quant {

// Where calibration images come from. A pass is one walk over the data in an order of its
// own (a shuffling loader's epoch), so passes that want different images ask for different ones.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual void start(int64_t pass) = 0;
  virtual bool next(Tensor& images) = 0;  // false after the pass's last batch
};

// A DataLoader's batches; pass k is its epoch k.
class LoaderBatches : public BatchSource {
 public:
  explicit LoaderBatches(data::DataLoader& loader) : loader_(loader) {}
  void start(int64_t pass) override { loader_.start_epoch(pass); }
  bool next(Tensor& images) override;

 private:
  data::DataLoader& loader_;
};

// Batches of `batch_size` from images held in memory [N, C, H, W], the same order every pass.
class TensorBatches : public BatchSource {
 public:
  TensorBatches(Tensor images, int64_t batch_size);
  void start(int64_t) override { at_ = 0; }
  bool next(Tensor& images) override;

 private:
  Tensor images_;
  int64_t batch_size_, at_ = 0;
};

// The first `n` images of pass `pass`, as one tensor (fewer when the source runs out first).
Tensor gather_images(BatchSource& source, int64_t n, int64_t pass);

// Runs up to `batches` batches of pass 0 in eval mode to collect ranges, then freezes them.
void calibrate(nn::Module& model, BatchSource& source, int64_t batches);

struct PtqOptions {
  int64_t calibration_batches = 16;
  bool equalize = false;  // cross-layer equalization of the float model first
  EqualizeOptions equalize_options;
  bool adaround = false;  // learned rounding, layer by layer
  AdaRoundOptions adaround_options;
  int64_t adaround_images = 256;  // the first images of pass 2
  bool bias_correction = false;   // on the first batch of pass 1
  // Runs the calibration it is handed, e.g. inside a cross-rank observer reduction and with a
  // check afterwards (cli/quant_commands.cpp under mpirun). Empty: calibrate as is.
  std::function<void(const std::function<void()>& calibrate)> calibration_scope;
};

struct PtqResult {
  std::vector<QuantizedLayer> layers;
  QuantConfig config;  // what the checkpoint records (min-max, CLE's ReLU6 replacement)
  std::optional<EqualizeResult> equalize;
  std::vector<AdaRoundLayer> adaround;
  int64_t adaround_images = 0;
  std::optional<int64_t> bias_corrected;  // layers corrected, when bias correction ran
};

// The PTQ recipe on `model` (float, in place): [CLE] → prepare_ptq(config) → calibrate →
// [AdaRound] → [bias correction]. `float_model` holds the same float weights: CLE equalizes it
// the same way, and AdaRound reconstructs its layers' outputs, so afterwards it is the float
// reference to compare the quantized model with. Deterministic for the options' seeds.
PtqResult quantize_post_training(nn::Module& model, nn::Module& float_model, QuantConfig config, BatchSource& calibration,
                                 const PtqOptions& options = {});

}  // namespace intrain::quant
