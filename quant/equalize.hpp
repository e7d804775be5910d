#pragma once
// Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization Through Weight
// Equalization and Bias Correction"; as AIMET implements it): a PTQ pass on the float model,
// before prepare_ptq. For consecutive layers y = f(W2 · g(W1 x)) with g positively
// homogeneous (ReLU, max/avg pooling, none), scaling output channel i of layer 1 by 1/s_i
// and input channel i of layer 2 by s_i leaves the network's function unchanged; with
// s_i = sqrt(r1_i · r2_i) / r2_i (r = the channel's weight range) both channels end up with
// the range sqrt(r1_i · r2_i), so per-tensor and narrow per-channel grids waste less.
//
//   model->load_state_dict(...); model->eval();
//   quant::equalize_cross_layer(*model);   // then prepare_ptq with config.cle_relu6_to_relu = true
//   quant::prepare_ptq(*model, config);
#include <cstdint>

#include "nn/module.hpp"

namespace intrain::quant {

struct EqualizeOptions {
  // ReLU6 clips at 6, and 6/s_i is no longer 6: AIMET replaces every ReLU6 between an
  // equalized pair by a ReLU (MobileNetV2 has nothing else to equalize). false skips pairs
  // joined by a ReLU6 instead, so the model computes exactly what it did.
  bool relu6_to_relu = true;
  int max_sweeps = 200;     // sweeps over all pairs (a chain such as pw → dw → pw needs several)
  float tolerance = 1e-4f;  // stop when every scale of a sweep is within 1 ± tolerance
  // High-bias absorption (the same paper, §4.3), after equalizing: where layer 1 has a batch
  // norm and a ReLU, its output channel i is ≥ c_i = max(0, β_i − 3|γ_i|) for all but
  // 0.13% of a normal activation, so c_i moves out of the activation (β_i −= c_i) and into
  // layer 2's bias (b2 += W2 · c), or into the running mean of the batch norm after layer 2
  // when it has no bias. The activation's range shrinks by c_i; the function is unchanged
  // wherever the activation is ≥ c_i, except at layer 2's zero-padded borders.
  bool absorb_bias = false;
};

struct EqualizeResult {
  int64_t pairs = 0;           // layer pairs equalized
  int64_t relu6_replaced = 0;  // ReLU6 turned into ReLU
  int sweeps = 0;
  int64_t biases_absorbed = 0;  // channels whose high bias moved into the next layer
};

// In place, on a float model (Conv2d / BatchNorm2d / Linear; a BatchNorm2d after the first
// layer of a pair is scaled through its γ and β, so it must have affine parameters and
// evaluate with running statistics). Pairs are consecutive siblings in (nested) Sequentials:
// conv [bn] [relu|relu6] [pool|dropout|identity]* [flatten] conv|linear, and linear [relu]
// linear; a residual block ends a run (its sum mixes two branches). Deterministic.
EqualizeResult equalize_cross_layer(nn::Module& model, const EqualizeOptions& options = {});

// Only the structural part: the ReLU6 between the pairs equalize_cross_layer would equalize
// become ReLU. prepare_qat calls it when the config says the checkpoint was equalized, so a
// reloaded model computes what was calibrated. Returns how many were replaced.
int64_t replace_relu6_in_equalized_pairs(nn::Module& model);

}  // namespace intrain::quant
