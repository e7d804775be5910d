#pragma once
// ONNX import: a float model, as torch.onnx.export writes it (opset 9 to 13), as an
// nn::Module built from intrain's own layers, so that it trains, calibrates (PTQ), fine-tunes
// (QAT) and converts to an int8 program like the built-in models.
//
// The graph must be a chain from its one input to its one output, of the operators Conv
// (groups; square kernels, equal strides, symmetric pads, no dilation), BatchNormalization,
// Relu, Clip(0, 6) / Clip(0, ∞), MaxPool, AveragePool, GlobalAveragePool, Flatten,
// Reshape to [N, −1], Gemm, MatMul (+ Add of a bias), Dropout and Identity (skipped), where
// a tensor may fork into two branches that an Add joins again (a residual block: nn::Residual).
// Anything else is an Error naming the operator, the node and the file.
//
// Names: a layer takes the module path of its weight's initializer when that looks like a
// PyTorch name ("features.0.0.weight" → features.0.0), else the path PyTorch's exporter
// writes into the node name ("/features/features.1/conv/conv.0/conv.0.0/Conv" →
// features.1.conv.0.0), else its operator in lower case. Paths become nested Sequentials.
// torch.onnx.export folds batch norm into the convolution before it; a convolution that no
// activation follows gets back a batch norm that is exactly the identity (frozen statistics
// 0 and 1 − ε, σ² + ε = 1 exactly, its bias as β), the place where quantization puts that output's
// quantizer, as for torchvision's linear bottlenecks.
#include <string>

#include "core/tensor.hpp"
#include "nn/module.hpp"

namespace intrain::interop {

struct OnnxImport {
  nn::ModulePtr model;  // in eval mode
  Shape input_shape;    // one example's shape, as the file declares it (−1 where symbolic)
};

// Reads, checks (onnx::checker) and imports the file.
OnnxImport import_onnx(const std::string& path);
// The same from a file's bytes; `name` labels the errors.
OnnxImport import_onnx_bytes(const std::string& bytes, const std::string& name);

// One example's shape [C, H, W] as the file declares its image input (−1 where symbolic),
// without building the model: for defaults such as `summary`'s input.
Shape onnx_input_shape(const std::string& path);

// Registers the "onnx" model source: models::make_model("onnx:PATH") imports PATH.
void register_onnx_model_source();

}  // namespace intrain::interop
