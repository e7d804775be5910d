#pragma once
// AdaRound (Nagel et al. 2020, "Up or Down? Adaptive Rounding for Post-Training
// Quantization"): instead of rounding every weight to the nearest level, learn for each
// weight whether to round down or up so that the layer's output on calibration data changes
// least. Layer by layer, in execution order, it minimizes
//     ‖W x − W̃ x̃‖²  +  λ Σ (1 − |2h(V) − 1|^β),    W̃ = s · clamp(⌊W/s⌋ + h(V), qmin, qmax)
// over V with Adam, h the rectified sigmoid clip(σ(V)(ζ − γ) + γ, 0, 1) (ζ = 1.1, γ = −0.1),
// β annealed from 20 to 2 after a warm start without the regularizer; then rounds hard
// (up where h ≥ ½). x is the float model's input to the layer; x̃ is the quantized model's own
// (its preceding layers already rounded, its activations quantized): the paper's
// "asymmetric" reconstruction, which also corrects for the error arriving from below.
//
// The learned weight is written back onto the grid (QuantConv2d::set_effective_weight), so
// the min-max weight quantizer, the checkpoint and the converter need nothing new: the
// quantizer's scale is unchanged (the weight that sets each channel's range keeps its
// nearest level) and rounding a weight that is already a level gives that level.
//
//   quant::prepare_ptq(*model, config);
//   quant::calibrate(*model, loader, batches);
//   quant::adaround(*model, *float_model, calibration_images);
#include <cstdint>
#include <string>
#include <vector>

#include "nn/module.hpp"

namespace intrain::quant {

struct AdaRoundOptions {
  int64_t iterations = 1000;   // Adam steps per layer
  int64_t batch_size = 32;     // calibration images per step, a window chosen by `seed`
  float regularization = 0.01f;  // λ (AIMET's default)
  float beta_start = 20, beta_end = 2;
  float warm_start = 0.2f;     // fraction of the steps without the rounding regularizer
  double learning_rate = 1e-2;
  bool quantized_inputs = true;  // false: x̃ = x (the float model's layer inputs)
  int64_t capture_batch = 32;    // images per forward pass while caching layer inputs
  uint64_t seed = 1;
};

struct AdaRoundLayer {
  std::string name;
  // Mean over images of ‖W x − W̃ x̃‖² per output position, on all calibration images.
  double error_nearest = 0, error_adaround = 0;
  int64_t weights = 0, changed = 0;  // weights, and those not rounded to nearest
};

// `model`: prepared by prepare_ptq and calibrated; `float_model`: the float model it was
// prepared from (same weights, equalized the same way if CLE ran), for the targets W x.
// `images`: the calibration images [N, C, H, W]. Deterministic for a seed. Throws naming the
// layer when a weight quantizer is not min-max (PTQ) or uses power-of-two scales.
std::vector<AdaRoundLayer> adaround(nn::Module& model, nn::Module& float_model, const Tensor& images,
                                    const AdaRoundOptions& options = {});

}  // namespace intrain::quant
