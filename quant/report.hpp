#pragma once
// What quantization costs, layer by layer: the SQNR between the float model's and the
// fake-quantized model's outputs of each layer on one batch, the bits, and the model size.
#include <string>
#include <vector>

#include "nn/module.hpp"
#include "quant/prepare.hpp"

namespace intrain::quant {

struct LayerReport {
  std::string name, kind;
  int bits = 0;
  double sqnr_db = 0;  // 10·log10(Σ y² / Σ (y − ŷ)²); +inf when identical
};

struct QuantReport {
  std::vector<LayerReport> layers;
  double output_sqnr_db = 0;
  ModelSize size;
};

// `float_model` and `quantized_model` must share the layer names (prepare_* keeps them).
QuantReport quant_report(nn::Module& float_model, nn::Module& quantized_model,
                         const std::vector<QuantizedLayer>& layers, const Tensor& batch);
std::string format_report(const QuantReport& report);

}  // namespace intrain::quant
