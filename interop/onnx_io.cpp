#include "interop/onnx_io.hpp"

#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include <cstring>
#include <filesystem>
#include <limits>

#include "core/error.hpp"
#include "core/file_reader.hpp"
#include "core/safetensors.hpp"

namespace intrain::interop {

namespace {

// Shapes of initializers are capped so that a corrupted dimension cannot ask for terabytes
// (the data must be in the file anyway, which kMaxOnnxBytes caps).
constexpr int64_t kMaxElements = kMaxOnnxBytes;

template <class T>
Tensor typed_tensor(const Shape& shape, DType dtype, const onnx::TensorProto& proto, const std::string& what,
                    const T* values, int64_t count) {
  // Sizes are checked before anything is allocated: a corrupted shape costs nothing.
  const int64_t n = shape_numel(shape);
  if (proto.has_raw_data()) {
    INTRAIN_CHECK(static_cast<int64_t>(proto.raw_data().size()) == n * static_cast<int64_t>(dtype_size(dtype)), what,
                  ": raw data of ", proto.raw_data().size(), " bytes for shape ", shape_str(shape), " (",
                  n * static_cast<int64_t>(dtype_size(dtype)), " bytes expected)");
    Tensor t = Tensor::uninitialized(shape, dtype);
    if (n > 0) std::memcpy(t.storage()->data(), proto.raw_data().data(), proto.raw_data().size());
    return t;
  }
  INTRAIN_CHECK(count == n, what, ": ", count, " values for shape ", shape_str(shape), " (", n, " expected)");
  Tensor t = Tensor::uninitialized(shape, dtype);
  switch (dtype) {
    case DType::f32: for (int64_t i = 0; i < n; ++i) t.data<float>()[i] = static_cast<float>(values[i]); break;
    case DType::i32: for (int64_t i = 0; i < n; ++i) t.data<int32_t>()[i] = static_cast<int32_t>(values[i]); break;
    case DType::i8: for (int64_t i = 0; i < n; ++i) t.data<int8_t>()[i] = static_cast<int8_t>(values[i]); break;
    case DType::u8: for (int64_t i = 0; i < n; ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(values[i]); break;
  }
  return t;
}

}  // namespace

void check_onnx_model(const onnx::ModelProto& model, const std::string& name) {
  try {
    onnx::checker::check_model(model);
    // Strict shape inference catches what the checker does not look at: operand types and
    // shapes that disagree between nodes. It works on a copy (it annotates the graph).
    onnx::ModelProto copy = model;
    onnx::shape_inference::InferShapes(copy, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict=*/1));
  } catch (const std::exception& e) {
    throw Error("ONNX model '" + name + "' fails the ONNX checker: " + e.what());
  }
}

onnx::ModelProto parse_onnx_model(const std::string& bytes, const std::string& name) {
  INTRAIN_CHECK(static_cast<int64_t>(bytes.size()) <= kMaxOnnxBytes, "ONNX model '", name, "' is ", bytes.size(),
                " bytes, more than the ", kMaxOnnxBytes, " this reader accepts");
  onnx::ModelProto model;
  INTRAIN_CHECK(!bytes.empty() && model.ParseFromString(bytes), "'", name,
                "' is not an ONNX model: its bytes do not parse as an ONNX ModelProto (truncated or not ONNX)");
  INTRAIN_CHECK(model.has_graph(), "'", name, "' is not an ONNX model: it has no graph");
  check_onnx_model(model, name);
  return model;
}

onnx::ModelProto read_onnx_model(const std::string& path) {
  require_regular_file(path, "ONNX model");
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  INTRAIN_CHECK(!ec, "cannot read ONNX model '", path, "': ", ec.message());
  INTRAIN_CHECK(static_cast<int64_t>(size) <= kMaxOnnxBytes, "ONNX model '", path, "' is ", size,
                " bytes, more than the ", kMaxOnnxBytes, " this reader accepts");
  return parse_onnx_model(read_regular_file(path, "ONNX model"), path);
}

void write_onnx_model(const std::string& path, const onnx::ModelProto& model) {
  check_onnx_model(model, path);
  std::string bytes;
  INTRAIN_CHECK(model.SerializeToString(&bytes), "writing ONNX model '", path, "': protobuf serialization failed");
  write_file_atomically(path, bytes);
}

Tensor tensor_from_onnx(const onnx::TensorProto& proto, const std::string& what) {
  INTRAIN_CHECK(proto.data_location() != onnx::TensorProto::EXTERNAL, what,
                ": external tensor data is not supported (save the model with its weights inside)");
  Shape shape;
  int64_t n = 1;
  for (int64_t d : proto.dims()) {
    INTRAIN_CHECK(d >= 0 && (d == 0 || n <= kMaxElements / d), what, ": invalid or huge dimension ", d);
    shape.push_back(d);
    n *= d;
  }
  switch (proto.data_type()) {
    case onnx::TensorProto::FLOAT:
      return typed_tensor(shape, DType::f32, proto, what, proto.float_data().data(), proto.float_data_size());
    case onnx::TensorProto::INT32:
      return typed_tensor(shape, DType::i32, proto, what, proto.int32_data().data(), proto.int32_data_size());
    case onnx::TensorProto::INT8:  // int8 and uint8 values live in int32_data when not raw
      return typed_tensor(shape, DType::i8, proto, what, proto.int32_data().data(), proto.int32_data_size());
    case onnx::TensorProto::UINT8:
      return typed_tensor(shape, DType::u8, proto, what, proto.int32_data().data(), proto.int32_data_size());
    case onnx::TensorProto::INT64: {
      // Shapes (Reshape's target) come as int64: read into int32, refusing values that do not fit.
      const int64_t* values = proto.int64_data().data();
      int64_t count = proto.int64_data_size();
      std::vector<int64_t> raw;
      if (proto.has_raw_data()) {
        INTRAIN_CHECK(static_cast<int64_t>(proto.raw_data().size()) == n * 8, what, ": raw data of ",
                      proto.raw_data().size(), " bytes for shape ", shape_str(shape));
        raw.resize(static_cast<size_t>(n));
        if (n > 0) std::memcpy(raw.data(), proto.raw_data().data(), proto.raw_data().size());
        values = raw.data();
        count = n;
      }
      INTRAIN_CHECK(count == n, what, ": ", count, " values for shape ", shape_str(shape));
      std::vector<int32_t> narrow;
      for (int64_t i = 0; i < n; ++i) {
        INTRAIN_CHECK(values[i] >= std::numeric_limits<int32_t>::min() && values[i] <= std::numeric_limits<int32_t>::max(),
                      what, ": int64 value ", values[i], " does not fit in 32 bits");
        narrow.push_back(static_cast<int32_t>(values[i]));
      }
      return Tensor::from_vector(narrow, shape);
    }
    default:
      throw Error(what + ": ONNX data type " + std::to_string(proto.data_type()) +
                  " is not supported (float, int64, int32, int8 and uint8 are)");
  }
}

onnx::TensorProto tensor_to_onnx(const Tensor& t, const std::string& name) {
  onnx::TensorProto proto;
  proto.set_name(name);
  for (int64_t d : t.shape()) proto.add_dims(d);
  switch (t.dtype()) {
    case DType::f32: proto.set_data_type(onnx::TensorProto::FLOAT); break;
    case DType::i32: proto.set_data_type(onnx::TensorProto::INT32); break;
    case DType::i8: proto.set_data_type(onnx::TensorProto::INT8); break;
    case DType::u8: proto.set_data_type(onnx::TensorProto::UINT8); break;
  }
  const Tensor c = t.contiguous();
  const auto* bytes = reinterpret_cast<const char*>(c.storage()->data()) + c.offset() * static_cast<int64_t>(dtype_size(c.dtype()));
  proto.set_raw_data(std::string(bytes, static_cast<size_t>(c.numel()) * dtype_size(c.dtype())));
  return proto;
}

}  // namespace intrain::interop
