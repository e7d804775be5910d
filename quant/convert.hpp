#pragma once
// convert: a fake-quantized model (prepare_qat / prepare_ptq, trained or calibrated) to an
// integer-only int8::Program. Folds batch norm into the weights and an int32 bias, turns
// the activation quantizers into per-channel fixed-point requantization with the ReLU as
// the output clamp, and makes the last layer output float logits.
#include "int8/program.hpp"
#include "nn/module.hpp"

namespace intrain::quant {

// `input_shape` is one example's [C, H, W]. Throws an Error naming the layer when the model
// holds something the integer program cannot express.
int8::Program convert(nn::Module& model, const Shape& input_shape, const std::string& model_name = "");

}  // namespace intrain::quant
