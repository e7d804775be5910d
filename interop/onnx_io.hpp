#pragma once
// ONNX files in and out, shared by the importer and the exporters: reading a model safely
// (regular files only, size capped, protobuf parsed, the ONNX checker run, every error
// naming the file), writing one (checked, then written atomically), and tensors between
// intrain and ONNX's TensorProto.
#include <cstdint>
#include <string>

#include "interop/onnx_proto.hpp"

#include "core/tensor.hpp"

namespace intrain::interop {

// Files larger than this are refused before they are read (protobuf's own limit is 2 GiB;
// every model this project handles is far smaller).
constexpr int64_t kMaxOnnxBytes = int64_t{1} << 30;
// The opset the exporters write and the newest the importer has been checked against.
constexpr int64_t kOnnxOpset = 13;

// Reads, parses and checks (onnx::checker::check_model, then strict shape inference) the
// model at `path`; throws an Error naming the file and the checker's message.
onnx::ModelProto read_onnx_model(const std::string& path);
// The same from bytes; `name` labels the errors.
onnx::ModelProto parse_onnx_model(const std::string& bytes, const std::string& name);
// Runs the checker and strict shape inference; throws an Error naming `name` and the problem.
void check_onnx_model(const onnx::ModelProto& model, const std::string& name);
// Checks the model, then writes it atomically.
void write_onnx_model(const std::string& path, const onnx::ModelProto& model);

// A float (or int32 / int8 / uint8) TensorProto as an intrain tensor of that dtype; `what`
// names it in errors. Data in raw_data or in the typed fields; external data is refused.
Tensor tensor_from_onnx(const onnx::TensorProto& proto, const std::string& what);
// An intrain tensor (f32, i32, i8, u8) as a TensorProto named `name`, its data in raw_data.
onnx::TensorProto tensor_to_onnx(const Tensor& t, const std::string& name);

}  // namespace intrain::interop
