#pragma once
// ONNX export (opset 13), checked with onnx::checker before anything is written.
//
// Float: an nn::Module of intrain's layers (Sequential, Residual, Conv2d, BatchNorm2d,
// ReLU, ReLU6, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Flatten, Linear; Dropout and
// Identity vanish) as Conv, BatchNormalization, Relu, Clip, MaxPool, AveragePool,
// GlobalAveragePool, Flatten, Gemm and Add. Initializers carry the state_dict names, node
// names the module paths as PyTorch writes them ("/features.0.0/Conv"), the input is
// "input" [N, C, H, W] with a symbolic batch N, the output "logits".
//
// Int8: an int8::Program as QuantizeLinear of the float input, QLinearConv for every
// convolution and linear layer (a linear layer is a 1x1 convolution), MaxPool and Flatten on
// the uint8 codes, DequantizeLinear → AveragePool / Add → QuantizeLinear where ONNX has no
// integer op (average pooling, the residual sum), Clip for fused ReLU bounds, and
// ConvInteger / MatMulInteger → Cast → Mul for the float logits. docs/onnx.md says what
// differs from the executor's fixed-point requantization (at most one code per op).
#include <string>

#include "interop/onnx_proto.hpp"

#include "int8/program.hpp"
#include "nn/module.hpp"

namespace intrain::interop {

// `input_shape`: one example's [C, H, W] (the graph's input declares it, with batch N).
onnx::ModelProto export_onnx(nn::Module& model, const Shape& input_shape, const std::string& graph_name = "intrain");
void export_onnx(nn::Module& model, const Shape& input_shape, const std::string& path, const std::string& graph_name);

onnx::ModelProto export_onnx_int8(const int8::Program& program);
void export_onnx_int8(const int8::Program& program, const std::string& path);

}  // namespace intrain::interop
