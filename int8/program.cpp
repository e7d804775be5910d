#include "int8/program.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "core/file_reader.hpp"
#include "core/safetensors.hpp"
#include "int8/requantize.hpp"

namespace intrain::int8 {

namespace {

using json = nlohmann::json;
const char* kMetadataKey = "intrain_int8_program";
constexpr int64_t kMaxKernel = 1024;  // kernels, strides, paddings: 1024² · 255 keeps pooling sums in int32

OpKind parse_kind(const std::string& s) {
  for (OpKind k : kOpKinds)
    if (s == op_kind_name(k)) return k;
  throw Error("int8 program: unknown op kind '" + s + "'");
}

// Sub-8-bit weights travel packed: 4-bit codes two to a byte, 2-bit codes four to a byte
// (two's complement, low bits first); the executor unpacks them to int8 at load.
int storage_bits(int weight_bits) { return weight_bits <= 2 ? 2 : weight_bits <= 4 ? 4 : 8; }

Tensor pack_codes(const Tensor& codes, int bits, size_t index) {
  const int per_byte = 8 / bits;
  const int32_t lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
  const auto values = codes.to_vector<int8_t>();
  std::vector<uint8_t> packed((values.size() + static_cast<size_t>(per_byte) - 1) / static_cast<size_t>(per_byte), 0);
  for (size_t i = 0; i < values.size(); ++i) {
    INTRAIN_CHECK(values[i] >= lo && values[i] <= hi, "int8 program: op ", index, " weight code ", int{values[i]},
                  " does not fit ", bits, " bits");
    packed[i / static_cast<size_t>(per_byte)] |= static_cast<uint8_t>((values[i] & ((1 << bits) - 1)) << (bits * static_cast<int>(i % static_cast<size_t>(per_byte))));
  }
  return Tensor::from_vector(packed, {static_cast<int64_t>(packed.size())});
}

Tensor unpack_codes(const Tensor& packed, int bits, const Shape& shape, size_t index) {
  const int per_byte = 8 / bits;
  const int64_t n = shape_numel(shape);
  INTRAIN_CHECK(packed.dtype() == DType::u8 && packed.numel() == (n + per_byte - 1) / per_byte, "int8 program: op ",
                index, " packed weight holds ", packed.numel(), " bytes, ", shape_str(shape), " at ", bits,
                " bits needs ", (n + per_byte - 1) / per_byte);
  const uint8_t* p = packed.data<uint8_t>();
  std::vector<int8_t> codes(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int v = (p[i / per_byte] >> (bits * static_cast<int>(i % per_byte))) & ((1 << bits) - 1);
    codes[static_cast<size_t>(i)] = static_cast<int8_t>(v >= (1 << (bits - 1)) ? v - (1 << bits) : v);  // sign-extend
  }
  return Tensor::from_vector(codes, shape);
}

// An integer field of the graph within [lo, hi]: JSON numbers may be 2^40, 1e30 or 2.5,
// which a plain conversion would wrap or leave undefined.
int64_t integer_field(const json& j, const char* key, int64_t lo, int64_t hi, size_t index) {
  const json& v = j.at(key);
  INTRAIN_CHECK(v.is_number_integer() && v.get<int64_t>() >= lo && v.get<int64_t>() <= hi, "int8 program: op ", index,
                " field '", key, "' is ", v.dump(), ", expected an integer in ", lo, "..", hi);
  return v.get<int64_t>();
}

// A per-example shape: 1 to 3 dimensions, each 1..2^24, and at most 2^31 elements.
void check_example_shape(const Shape& shape, size_t index, const char* what) {
  INTRAIN_CHECK(!shape.empty() && shape.size() <= 3, "int8 program: op ", index, " ", what, " ", shape_str(shape),
                " is not a shape of 1 to 3 dimensions");
  int64_t elements = 1;
  for (int64_t d : shape) {
    INTRAIN_CHECK(d >= 1 && d <= (int64_t{1} << 24), "int8 program: op ", index, " ", what, " ", shape_str(shape),
                  " has a dimension outside 1..2^24");
    elements *= d;
    INTRAIN_CHECK(elements <= (int64_t{1} << 31), "int8 program: op ", index, " ", what, " ", shape_str(shape),
                  " has more than 2^31 elements per example");
  }
}

// A list of float numbers of the graph, read as double and range-checked first: a
// conversion of 1e300 to float is undefined.
std::vector<float> float_list(const json& v, const char* what) {
  INTRAIN_CHECK(v.is_array(), "int8 program: the ", what, " is not a list");
  std::vector<float> out;
  for (const json& x : v) {
    INTRAIN_CHECK(x.is_number() && std::fabs(x.get<double>()) < 1e30, "int8 program: the ", what,
                  " holds a value that is not a finite number");
    out.push_back(static_cast<float>(x.get<double>()));
  }
  return out;
}

// A shape of the graph: integers only (JSON allows 1e24, whose conversion is undefined),
// then check_example_shape.
Shape shape_field(const json& v, const char* what, size_t index) {
  INTRAIN_CHECK(v.is_array() && !v.empty() && v.size() <= 3, "int8 program: op ", index, " ", what, " ", v.dump(),
                " is not a shape of 1 to 3 dimensions");
  Shape shape;
  for (const json& d : v) {
    INTRAIN_CHECK(d.is_number_integer(), "int8 program: op ", index, " ", what, " ", v.dump(),
                  " has a dimension outside 1..2^24");
    shape.push_back(d.get<int64_t>());
  }
  check_example_shape(shape, index, what);
  return shape;
}

void expect_tensor(const Tensor& t, DType dtype, const Shape& shape, size_t index, const char* what) {
  INTRAIN_CHECK(t.defined(), "int8 program: op ", index, " has no ", what);
  INTRAIN_CHECK(t.dtype() == dtype && t.shape() == shape, "int8 program: op ", index, " ", what, " is ",
                dtype_name(t.dtype()), " ", shape_str(t.shape()), ", expected ", dtype_name(dtype), " ", shape_str(shape));
}

// Fixed-point multipliers as quantize_multiplier makes them: 0, or M0 in [2^30, 2^31).
void check_multipliers(const Tensor& multiplier, size_t index) {
  for (int32_t m : multiplier.to_vector<int32_t>())
    INTRAIN_CHECK(m == 0 || m >= (int32_t{1} << 30), "int8 program: op ", index, " has multiplier ", m,
                  ", expected 0 or a value in [2^30, 2^31) (docs/quantization.md §7)");
}

// Every int32 accumulator of the op stays in range for any input (docs/quantization.md §7):
// |bias[c]| + 255 · Σ_k |w[c][k]| < 2^31, since |x − z| <= 255. The reference's sums then
// never overflow (undefined behaviour in C++), and the fast kernels' wrapping sums, which
// fold the zero point into the bias, come out the same.
void check_accumulator_bound(const Op& op, size_t index) {
  const int64_t oc = op.out_shape[0], per_channel = op.weight.numel() / oc;
  const int8_t* w = op.weight.data<int8_t>();
  const int32_t* bias = op.bias.data<int32_t>();
  for (int64_t c = 0; c < oc; ++c) {
    int64_t bound = bias[c] < 0 ? -static_cast<int64_t>(bias[c]) : bias[c];
    for (int64_t k = 0; k < per_channel; ++k) bound += 255 * (w[c * per_channel + k] < 0 ? -w[c * per_channel + k] : w[c * per_channel + k]);
    INTRAIN_CHECK(bound < (int64_t{1} << 31), "int8 program: op ", index, " channel ", c,
                  " can overflow its int32 accumulator (|bias| + 255·Σ|w| = ", bound, " >= 2^31)");
  }
}

}  // namespace

const char* op_kind_name(OpKind kind) {
  switch (kind) {
#define INTRAIN_INT8_NAME_CASE(name) \
  case OpKind::name: return #name;
    INTRAIN_INT8_OP_KINDS(INTRAIN_INT8_NAME_CASE)
#undef INTRAIN_INT8_NAME_CASE
  }
  return "?";
}

void Program::validate() const {
  INTRAIN_CHECK(input_shape.size() == 3 && shape_numel(input_shape) > 0, "int8 program: input shape ",
                shape_str(input_shape), " is not [C, H, W]");
  INTRAIN_CHECK(input_scale > 0 && std::isfinite(input_scale), "int8 program: input scale ", input_scale, " is invalid");
  INTRAIN_CHECK(input_zero_point >= 0 && input_zero_point <= 255, "int8 program: input zero point ", input_zero_point,
                " is outside 0..255");
  INTRAIN_CHECK(!ops.empty(), "int8 program: no ops");
  INTRAIN_CHECK(dataset.size() <= 4096, "int8 program: the dataset name is over 4096 characters");
  INTRAIN_CHECK(input_mean.size() == input_std.size() &&
                    (input_mean.empty() || input_mean.size() == 1 || static_cast<int64_t>(input_mean.size()) == input_shape[0]),
                "int8 program: the input normalization has ", input_mean.size(), " mean(s) and ", input_std.size(),
                " std(s); it needs none, one, or one per input channel (", input_shape[0], ")");
  for (size_t k = 0; k < input_mean.size(); ++k)
    INTRAIN_CHECK(std::isfinite(input_mean[k]) && std::isfinite(input_std[k]) && input_std[k] > 0,
                  "int8 program: input normalization ", k, " (mean ", input_mean[k], ", std ", input_std[k],
                  ") is not finite with a positive std");
  for (const std::string& name : classes)
    INTRAIN_CHECK(name.size() <= 4096, "int8 program: a class name is over 4096 characters");
  if (pixel_codes.defined())
    INTRAIN_CHECK(pixel_codes.dtype() == DType::u8 && pixel_codes.shape() == Shape({input_shape[0], 256}),
                  "int8 program: the pixel table must be u8 [", input_shape[0], ", 256]");
  Shape current = input_shape;
  std::vector<Shape> saved;  // the save/add stack
  check_example_shape(input_shape, 0, "(the program's) input shape");
  for (size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    check_example_shape(op.in_shape, i, "input shape");
    check_example_shape(op.out_shape, i, "output shape");
    INTRAIN_CHECK(op.kernel >= 1 && op.kernel <= kMaxKernel && op.stride >= 1 && op.stride <= kMaxKernel &&
                      op.padding >= 0 && op.padding <= kMaxKernel,
                  "int8 program: op ", i, " kernel ", op.kernel, ", stride ", op.stride, " or padding ", op.padding,
                  " is outside 1..", kMaxKernel, " (padding 0..", kMaxKernel, ")");
    INTRAIN_CHECK(op.in_shape == current, "int8 program: op ", i, " (", op_kind_name(op.kind), ") expects input ",
                  shape_str(op.in_shape), " but receives ", shape_str(current));
    for (int64_t d : op.out_shape) INTRAIN_CHECK(d > 0, "int8 program: op ", i, " has an empty output shape");
    const bool last = i + 1 == ops.size();
    switch (op.kind) {
      case OpKind::conv2d: {
        INTRAIN_CHECK(op.in_shape.size() == 3 && op.out_shape.size() == 3, "int8 program: op ", i, " conv2d shapes");
        INTRAIN_CHECK(op.kernel >= 1 && op.stride >= 1 && op.padding >= 0 && op.groups >= 1 &&
                          op.in_shape[0] % op.groups == 0 && op.out_shape[0] % op.groups == 0,
                      "int8 program: op ", i, " conv2d has invalid kernel/stride/padding/groups");
        const int64_t oh = (op.in_shape[1] + 2 * op.padding - op.kernel) / op.stride + 1;
        const int64_t ow = (op.in_shape[2] + 2 * op.padding - op.kernel) / op.stride + 1;
        INTRAIN_CHECK(op.out_shape[1] == oh && op.out_shape[2] == ow, "int8 program: op ", i, " conv2d output ",
                      shape_str(op.out_shape), " does not follow from its input and kernel");
        expect_tensor(op.weight, DType::i8, {op.out_shape[0], op.in_shape[0] / op.groups, op.kernel, op.kernel}, i, "weight");
        break;
      }
      case OpKind::linear:
        INTRAIN_CHECK(op.in_shape.size() == 1 && op.out_shape.size() == 1, "int8 program: op ", i, " linear shapes");
        expect_tensor(op.weight, DType::i8, {op.out_shape[0], op.in_shape[0]}, i, "weight");
        break;
      case OpKind::max_pool:
      case OpKind::avg_pool: {
        INTRAIN_CHECK(op.in_shape.size() == 3 && op.kernel >= 1 && op.stride >= 1 && op.padding >= 0 &&
                          2 * op.padding <= op.kernel,
                      "int8 program: op ", i, " pool has invalid parameters");
        const int64_t oh = (op.in_shape[1] + 2 * op.padding - op.kernel) / op.stride + 1;
        const int64_t ow = (op.in_shape[2] + 2 * op.padding - op.kernel) / op.stride + 1;
        INTRAIN_CHECK(op.out_shape == Shape({op.in_shape[0], oh, ow}), "int8 program: op ", i, " pool output ",
                      shape_str(op.out_shape), " does not follow from its input");
        break;
      }
      case OpKind::flatten:
        INTRAIN_CHECK(op.out_shape == Shape{shape_numel(op.in_shape)}, "int8 program: op ", i, " flatten output ",
                      shape_str(op.out_shape));
        break;
      case OpKind::save:
        INTRAIN_CHECK(op.out_shape == op.in_shape, "int8 program: op ", i, " save changes the shape");
        INTRAIN_CHECK(saved.size() < 64, "int8 program: op ", i, " nests residual connections too deeply");
        saved.push_back(op.in_shape);
        break;
      case OpKind::swap:
        INTRAIN_CHECK(!saved.empty(), "int8 program: op ", i, " swaps without a saved input");
        INTRAIN_CHECK(op.in_shape == current && op.out_shape == saved.back(), "int8 program: op ", i, " swap shapes ",
                      shape_str(op.in_shape), " -> ", shape_str(op.out_shape), " do not match the stack");
        saved.back() = op.in_shape;
        current = op.out_shape;
        continue;
      case OpKind::add:
        INTRAIN_CHECK(!saved.empty(), "int8 program: op ", i, " adds without a saved input");
        INTRAIN_CHECK(saved.back() == op.in_shape && op.out_shape == op.in_shape, "int8 program: op ", i, " adds ",
                      shape_str(op.in_shape), " to a saved ", shape_str(saved.back()));
        saved.pop_back();
        break;
    }
    if (op.kind == OpKind::avg_pool || op.kind == OpKind::add) {
      const int64_t n = op.kind == OpKind::add ? 3 : 1;
      expect_tensor(op.multiplier, DType::i32, {n}, i, "multiplier");
      expect_tensor(op.shift, DType::i32, {n}, i, "shift");
      for (int32_t sh : op.shift.to_vector<int32_t>())
        INTRAIN_CHECK(sh >= -31 && sh <= 31, "int8 program: op ", i, " has shift ", sh, " outside -31..31");
      for (int32_t zp : {op.input_zero_point, op.saved_zero_point, op.output_zero_point})
        INTRAIN_CHECK(zp >= 0 && zp <= 255, "int8 program: op ", i, " has a zero point outside 0..255");
      INTRAIN_CHECK(0 <= op.clamp_min && op.clamp_min <= op.clamp_max && op.clamp_max <= 255, "int8 program: op ", i,
                    " clamp range [", op.clamp_min, ", ", op.clamp_max, "] is not within 0..255");
    }
    if (op.kind == OpKind::avg_pool || op.kind == OpKind::add) check_multipliers(op.multiplier, i);
    if (op.kind == OpKind::conv2d || op.kind == OpKind::linear) {
      const int64_t oc = op.out_shape[0];
      expect_tensor(op.bias, DType::i32, {oc}, i, "bias");
      INTRAIN_CHECK(op.input_zero_point >= 0 && op.input_zero_point <= 255, "int8 program: op ", i,
                    " input zero point outside 0..255");
      check_accumulator_bound(op, i);
      if (op.output_scale.defined()) {
        expect_tensor(op.output_scale, DType::f32, {oc}, i, "output scale");
        for (float v : op.output_scale.to_vector<float>())
          INTRAIN_CHECK(std::isfinite(v) && v > 0, "int8 program: op ", i, " has output scale ", v,
                        ", expected a finite positive number");
        INTRAIN_CHECK(last, "int8 program: op ", i, " outputs float but is not the last op");
      } else {
        expect_tensor(op.multiplier, DType::i32, {oc}, i, "multiplier");
        expect_tensor(op.shift, DType::i32, {oc}, i, "shift");
        check_multipliers(op.multiplier, i);
        for (int32_t s : op.shift.to_vector<int32_t>())
          INTRAIN_CHECK(s >= -31 && s <= 31, "int8 program: op ", i, " has shift ", s, " outside -31..31");
        INTRAIN_CHECK(op.output_zero_point >= 0 && op.output_zero_point <= 255, "int8 program: op ", i,
                      " has output zero point ", op.output_zero_point, " outside 0..255");
        INTRAIN_CHECK(0 <= op.clamp_min && op.clamp_min <= op.clamp_max && op.clamp_max <= 255, "int8 program: op ", i,
                      " clamp range [", op.clamp_min, ", ", op.clamp_max, "] is not within 0..255");
      }
    }
    INTRAIN_CHECK(op.layer.size() <= 4096, "int8 program: op ", i, " has a layer path over 4096 characters");
    INTRAIN_CHECK(std::isfinite(op.activation_scale) && op.activation_scale >= 0, "int8 program: op ", i,
                  " has activation scale ", op.activation_scale, ", expected a finite number >= 0 (0: unknown)");
    INTRAIN_CHECK(!last || op.output_scale.defined(), "int8 program: the last op must output float logits");
    current = op.out_shape;
  }
  INTRAIN_CHECK(saved.empty(), "int8 program: ", saved.size(), " saved input(s) never added");
  INTRAIN_CHECK(classes.empty() || static_cast<int64_t>(classes.size()) == num_outputs(), "int8 program: ",
                classes.size(), " class names for ", num_outputs(), " outputs");
}

void set_pixel_input(Program& program, const std::vector<float>& mean, const std::vector<float>& std) {
  const int64_t channels = program.input_shape.at(0);
  INTRAIN_CHECK(!mean.empty() && mean.size() == std.size() &&
                    (mean.size() == 1 || static_cast<int64_t>(mean.size()) == channels),
                "set_pixel_input: need one mean and std, or one per channel (", channels, ")");
  Tensor table = Tensor::empty({channels, 256}, DType::u8);
  uint8_t* t = table.data<uint8_t>();
  for (int64_t c = 0; c < channels; ++c) {
    const size_t k = mean.size() == 1 ? 0 : static_cast<size_t>(c);
    INTRAIN_CHECK(std[k] > 0, "set_pixel_input: std must be positive");
    for (int p = 0; p < 256; ++p) {
      // The same float steps as the training pipeline and Executor::run.
      const float x = (static_cast<float>(p) * (1.0f / 255.0f) - mean[k]) * (1.0f / std[k]);
      t[c * 256 + p] = quantize_input(x, program.input_scale, program.input_zero_point);
    }
  }
  program.pixel_codes = table;
}

void save_program(const std::string& path, const Program& program) {
  program.validate();
  json graph = {{"version", kProgramVersion}, {"model", program.model}, {"input_shape", program.input_shape},
                {"input_scale", program.input_scale}, {"input_zero_point", program.input_zero_point}};
  if (!program.dataset.empty()) graph["dataset"] = program.dataset;
  if (!program.input_mean.empty()) graph["input_normalization"] = {{"mean", program.input_mean}, {"std", program.input_std}};
  if (!program.classes.empty()) graph["classes"] = program.classes;
  graph["ops"] = json::array();
  std::map<std::string, Tensor> tensors;
  for (size_t i = 0; i < program.ops.size(); ++i) {
    const Op& op = program.ops[i];
    graph["ops"].push_back({{"kind", op_kind_name(op.kind)}, {"in_shape", op.in_shape}, {"out_shape", op.out_shape},
                            {"kernel", op.kernel}, {"stride", op.stride}, {"padding", op.padding},
                            {"groups", op.groups}, {"input_zero_point", op.input_zero_point},
                            {"output_zero_point", op.output_zero_point}, {"clamp_min", op.clamp_min},
                            {"clamp_max", op.clamp_max}, {"weight_bits", op.weight_bits},
                            {"saved_zero_point", op.saved_zero_point}});
    if (!op.layer.empty()) graph["ops"].back()["layer"] = op.layer;
    if (op.activation_scale > 0) graph["ops"].back()["activation_scale"] = op.activation_scale;
    const std::string prefix = "op" + std::to_string(i) + ".";
    if (op.weight.defined() && storage_bits(op.weight_bits) < 8) {
      graph["ops"].back()["weight_shape"] = op.weight.shape();
      tensors.emplace(prefix + "weight_packed", pack_codes(op.weight, storage_bits(op.weight_bits), i));
    } else if (op.weight.defined()) {
      tensors.emplace(prefix + "weight", op.weight);
    }
    for (auto [name, t] : {std::pair{"bias", op.bias},
                           std::pair{"multiplier", op.multiplier}, std::pair{"shift", op.shift},
                           std::pair{"output_scale", op.output_scale}})
      if (t.defined()) tensors.emplace(prefix + name, t);
  }
  if (program.pixel_codes.defined()) tensors.emplace("input.pixel_codes", program.pixel_codes);
  save_safetensors(path, tensors, {{kMetadataKey, graph.dump()}});
}

Program load_program(const std::string& path) { return parse_program(read_regular_file(path, "int8 program"), path); }

Program parse_program(const std::string& bytes, const std::string& path) {
  SafetensorsFile file = parse_safetensors(bytes, path);
  auto meta = file.metadata.find(kMetadataKey);
  INTRAIN_CHECK(meta != file.metadata.end(), "'", path, "' is not an intrain int8 program (no '", kMetadataKey,
                "' metadata)");
  Program program;
  try {
    const json graph = json::parse(meta->second);
    const int version = graph.at("version").get<int>();
    INTRAIN_CHECK(version <= kProgramVersion, "'", path, "' is an int8 program of format version ", version,
                  "; this build reads up to version ", kProgramVersion, ": convert it again or update intrain");
    program.model = graph.value("model", "");
    program.input_shape = shape_field(graph.at("input_shape"), "(the program's) input shape", 0);
    INTRAIN_CHECK(graph.at("input_scale").is_number(), "int8 program: the input scale is not a number");
    program.input_scale = graph.at("input_scale").get<float>();
    program.input_zero_point = static_cast<int32_t>(integer_field(graph, "input_zero_point", 0, 255, 0));
    if (auto table = file.tensors.find("input.pixel_codes"); table != file.tensors.end()) program.pixel_codes = table->second;
    for (const char* key : {"dataset", "input_normalization", "classes"})
      INTRAIN_CHECK(version >= 4 || !graph.contains(key), "int8 program: '", key, "' needs format version 4, the file says ",
                    version);
    if (graph.contains("dataset")) program.dataset = graph.at("dataset").get<std::string>();
    if (graph.contains("input_normalization")) {
      const json& n = graph.at("input_normalization");
      INTRAIN_CHECK(n.at("mean").size() <= 4096 && n.at("std").size() <= 4096, "int8 program: malformed input normalization");
      program.input_mean = float_list(n.at("mean"), "input normalization mean");
      program.input_std = float_list(n.at("std"), "input normalization std");
    }
    if (graph.contains("classes")) {
      INTRAIN_CHECK(graph.at("classes").is_array() && graph.at("classes").size() <= (size_t{1} << 20),
                    "int8 program: malformed class list");
      program.classes = graph.at("classes").get<std::vector<std::string>>();
    }
    const auto& ops = graph.at("ops");
    INTRAIN_CHECK(ops.is_array() && ops.size() <= 10000, "'", path, "': malformed op list");
    for (size_t i = 0; i < ops.size(); ++i) {
      const json& j = ops[i];
      Op op;
      op.kind = parse_kind(j.at("kind").get<std::string>());
      op.in_shape = shape_field(j.at("in_shape"), "input shape", i);
      op.out_shape = shape_field(j.at("out_shape"), "output shape", i);
      op.kernel = integer_field(j, "kernel", 1, kMaxKernel, i);
      op.stride = integer_field(j, "stride", 1, kMaxKernel, i);
      op.padding = integer_field(j, "padding", 0, kMaxKernel, i);
      op.groups = integer_field(j, "groups", 1, int64_t{1} << 24, i);
      op.input_zero_point = static_cast<int32_t>(integer_field(j, "input_zero_point", 0, 255, i));
      op.output_zero_point = static_cast<int32_t>(integer_field(j, "output_zero_point", 0, 255, i));
      op.clamp_min = static_cast<int32_t>(integer_field(j, "clamp_min", 0, 255, i));
      op.clamp_max = static_cast<int32_t>(integer_field(j, "clamp_max", 0, 255, i));
      op.weight_bits = j.contains("weight_bits") ? static_cast<int>(integer_field(j, "weight_bits", 1, 8, i)) : 8;
      op.saved_zero_point =
          j.contains("saved_zero_point") ? static_cast<int32_t>(integer_field(j, "saved_zero_point", 0, 255, i)) : 0;
      for (const char* key : {"layer", "activation_scale"})
        INTRAIN_CHECK(version >= 5 || !j.contains(key), "int8 program: op ", i, " field '", key,
                      "' needs format version 5, the file says ", version);
      if (j.contains("layer")) {
        INTRAIN_CHECK(j.at("layer").is_string(), "int8 program: op ", i, " field 'layer' is not a string");
        op.layer = j.at("layer").get<std::string>();
      }
      if (j.contains("activation_scale")) {
        const json& v = j.at("activation_scale");
        INTRAIN_CHECK(v.is_number() && v.get<double>() > 0 && v.get<double>() < 1e30, "int8 program: op ", i,
                      " field 'activation_scale' is ", v.dump(), ", expected a finite positive number");
        op.activation_scale = static_cast<float>(v.get<double>());
      }
      const std::string prefix = "op" + std::to_string(i) + ".";
      auto take = [&](const char* name) {
        auto found = file.tensors.find(prefix + name);
        return found == file.tensors.end() ? Tensor() : found->second;
      };
      op.weight = take("weight");
      if (Tensor packed = take("weight_packed"); packed.defined()) {
        INTRAIN_CHECK(op.weight_bits >= 1 && op.weight_bits <= 4, "'", path, "': op ", i, " has packed weights but ",
                      op.weight_bits, " weight bits");
        op.weight = unpack_codes(packed, storage_bits(op.weight_bits), j.at("weight_shape").get<Shape>(), i);
      }
      op.bias = take("bias");
      op.multiplier = take("multiplier");
      op.shift = take("shift");
      op.output_scale = take("output_scale");
      program.ops.push_back(std::move(op));
    }
  } catch (const json::exception& e) {
    throw Error("'" + path + "': malformed int8 program graph: " + e.what());
  } catch (const Error& e) {
    throw Error("'" + path + "': " + e.what());
  }
  try {
    program.validate();
  } catch (const Error& e) {
    throw Error("'" + path + "': " + e.what());
  }
  return program;
}

}  // namespace intrain::int8
