// int8::Program → ONNX. The program keeps the fixed-point multipliers of its ops, not the
// float scales of the activations between them, so the graph gives every intermediate
// uint8 tensor scale 1 and puts each op's whole real multiplier M = M0·2^−(31+shift) into
// the weight (or dequantization) scale: only the products of scales matter to QLinearConv,
// so the codes are those the program computes (docs/onnx.md bounds the difference). The
// input's QuantizeLinear and the logits' Mul carry the program's real float scales.
#include <cmath>

#include "interop/onnx_export.hpp"
#include "interop/onnx_graph.hpp"

namespace intrain::interop {

namespace {

using graph::add_initializer;
using graph::add_node;
using int8::Op;
using int8::OpKind;

double real_multiplier(const Tensor& multiplier, const Tensor& shift, int64_t i) {
  return static_cast<double>(multiplier.data<int32_t>()[i]) * std::ldexp(1.0, -31 - shift.data<int32_t>()[i]);
}

class Int8Exporter {
 public:
  explicit Int8Exporter(onnx::GraphProto& g) : g_(g) {}

  void run(const int8::Program& p) {
    graph::add_value(g_.mutable_input(), "input", onnx::TensorProto::FLOAT, p.input_shape);
    cur_ = add_node(g_, "QuantizeLinear",
                    {"input", init(Tensor::scalar(p.input_scale), "input.scale"), u8(p.input_zero_point, "input.zero_point")},
                    "input.codes", "/input/QuantizeLinear")
               ->output(0);
    for (size_t i = 0; i < p.ops.size(); ++i) {
      const Op& op = p.ops[i];
      prefix_ = "op" + std::to_string(i);
      INTRAIN_CHECK(!logits_done_, "ONNX export: op ", i, " (", int8::op_kind_name(op.kind),
                    ") follows the op that outputs float logits");
      switch (op.kind) {
        case OpKind::conv2d:
        case OpKind::linear: weight_op(op); break;
        case OpKind::max_pool: {
          onnx::NodeProto* n = node("MaxPool", {cur_});
          graph::set_window(n, op.kernel, op.stride, op.padding);
          cur_ = n->output(0);
          break;
        }
        case OpKind::avg_pool: avg_pool(op); break;
        case OpKind::flatten: {
          onnx::NodeProto* n = node("Flatten", {cur_});
          graph::set_int(n, "axis", 1);
          cur_ = n->output(0);
          break;
        }
        case OpKind::save: stack_.push_back(cur_); break;
        case OpKind::swap:
          INTRAIN_CHECK(!stack_.empty(), "ONNX export: op ", i, " (swap) with nothing saved");
          std::swap(cur_, stack_.back());
          break;
        case OpKind::add: add(op); break;
      }
    }
    INTRAIN_CHECK(logits_done_, "ONNX export: the program's last op does not output float logits");
    g_.mutable_node(g_.node_size() - 1)->set_output(0, "logits");
    graph::add_value(g_.mutable_output(), "logits", onnx::TensorProto::FLOAT, {p.num_outputs()});
  }

 private:
  std::string init(const Tensor& t, const std::string& what) { return add_initializer(g_, t, prefix_ + "." + what); }
  std::string u8(int32_t v, const std::string& what) { return init(Tensor::full({}, v, DType::u8), what); }

  onnx::NodeProto* node(const std::string& op, std::initializer_list<std::string> inputs) {
    const std::string name = "/" + prefix_ + "/" + op + "_" + std::to_string(count_++);
    return add_node(g_, op, inputs, name + "_output", name);
  }

  // The fused activation bounds, when narrower than the codes' full range.
  void clamp(const Op& op) {
    if (op.clamp_min == 0 && op.clamp_max == 255) return;
    cur_ = node("Clip", {cur_, u8(op.clamp_min, "clamp_min"), u8(op.clamp_max, "clamp_max")})->output(0);
  }

  void weight_op(const Op& op) {
    const bool conv = op.kind == OpKind::conv2d;
    const int64_t out = op.weight.size(0);
    Tensor w = op.weight.contiguous();
    if (op.output_scale.defined()) return logits(op, w, conv);
    if (!conv) {
      // A linear layer as a 1x1 convolution of [N, K, 1, 1]: QLinearMatMul has no bias and
      // no per-channel scales; QLinearConv has both.
      w = w.reshape({out, w.size(1), 1, 1});
      cur_ = node("Unsqueeze", {cur_, graph::add_int64_initializer(g_, {2, 3}, prefix_ + ".axes")})->output(0);
    }
    std::vector<float> scales;
    for (int64_t c = 0; c < out; ++c) scales.push_back(static_cast<float>(real_multiplier(op.multiplier, op.shift, c)));
    onnx::NodeProto* n =
        node("QLinearConv", {cur_, init(Tensor::scalar(1), "input_scale"), u8(op.input_zero_point, "input_zero_point"),
                             init(w, "weight"), init(Tensor::from_vector(scales, {out}), "weight_scale"),
                             init(Tensor::zeros({out}, DType::i8), "weight_zero_point"), init(Tensor::scalar(1), "output_scale"),
                             u8(op.output_zero_point, "output_zero_point"), init(op.bias, "bias")});
    set_conv_attributes(n, op, w.size(2));
    cur_ = n->output(0);
    if (!conv) {
      onnx::NodeProto* f = node("Flatten", {cur_});
      graph::set_int(f, "axis", 1);
      cur_ = f->output(0);
    }
    clamp(op);
  }

  void set_conv_attributes(onnx::NodeProto* n, const Op& op, int64_t kernel) {
    graph::set_int(n, "group", op.kind == OpKind::conv2d ? op.groups : 1);
    if (op.kind == OpKind::conv2d) graph::set_window(n, kernel, op.stride, op.padding);
    else graph::set_window(n, 1, 1, 0);
  }

  // The float logits: integer accumulators plus the bias, times the per-channel scale.
  void logits(const Op& op, const Tensor& w, bool conv) {
    const int64_t out = w.size(0);
    std::string acc;
    Shape channel_shape = {out, 1, 1};
    if (conv) {
      onnx::NodeProto* n = node("ConvInteger", {cur_, init(w, "weight"), u8(op.input_zero_point, "input_zero_point"),
                                                init(Tensor::full({}, 0, DType::i8), "weight_zero_point")});
      set_conv_attributes(n, op, w.size(2));
      acc = n->output(0);
    } else {
      // MatMulInteger takes the weight as [K, OUT].
      const Tensor wt = w.t().contiguous();
      acc = node("MatMulInteger", {cur_, init(wt, "weight"), u8(op.input_zero_point, "input_zero_point"),
                                   init(Tensor::full({}, 0, DType::i8), "weight_zero_point")})
                ->output(0);
      channel_shape = {out};
    }
    const std::string biased = node("Add", {acc, init(op.bias.reshape(channel_shape), "bias")})->output(0);
    onnx::NodeProto* cast = node("Cast", {biased});
    graph::set_int(cast, "to", onnx::TensorProto::FLOAT);
    cur_ = node("Mul", {cast->output(0), init(op.output_scale.reshape(channel_shape), "logit_scale")})->output(0);
    logits_done_ = true;
  }

  // Σ (x − z) over the window times M: dequantized with scale M·k², averaged, quantized with scale 1.
  void avg_pool(const Op& op) {
    const double m = real_multiplier(op.multiplier, op.shift, 0) * static_cast<double>(op.kernel * op.kernel);
    const std::string x = node("DequantizeLinear", {cur_, init(Tensor::scalar(static_cast<float>(m)), "input_scale"),
                                                    u8(op.input_zero_point, "input_zero_point")})
                              ->output(0);
    onnx::NodeProto* pool = node("AveragePool", {x});
    graph::set_window(pool, op.kernel, op.stride, op.padding);
    graph::set_int(pool, "count_include_pad", 1);
    cur_ = node("QuantizeLinear", {pool->output(0), init(Tensor::scalar(1), "output_scale"),
                                   u8(op.output_zero_point, "output_zero_point")})
               ->output(0);
    clamp(op);
  }

  // The residual sum: both inputs dequantized with their whole multiplier into output units.
  void add(const Op& op) {
    INTRAIN_CHECK(!stack_.empty(), "ONNX export: ", prefix_, " (add) with nothing saved");
    const std::string saved = stack_.back();
    stack_.pop_back();
    const double out = real_multiplier(op.multiplier, op.shift, 2) * static_cast<double>(1 << 20);
    const double ra = real_multiplier(op.multiplier, op.shift, 0) * out, rb = real_multiplier(op.multiplier, op.shift, 1) * out;
    const std::string a = node("DequantizeLinear", {cur_, init(Tensor::scalar(static_cast<float>(ra)), "input_scale"),
                                                    u8(op.input_zero_point, "input_zero_point")})
                              ->output(0);
    const std::string b = node("DequantizeLinear", {saved, init(Tensor::scalar(static_cast<float>(rb)), "saved_scale"),
                                                    u8(op.saved_zero_point, "saved_zero_point")})
                              ->output(0);
    const std::string sum = node("Add", {a, b})->output(0);
    cur_ = node("QuantizeLinear", {sum, init(Tensor::scalar(1), "output_scale"), u8(op.output_zero_point, "output_zero_point")})
               ->output(0);
    clamp(op);
  }

  onnx::GraphProto& g_;
  std::string cur_, prefix_;
  std::vector<std::string> stack_;
  int64_t count_ = 0;
  bool logits_done_ = false;
};

}  // namespace

onnx::ModelProto export_onnx_int8(const int8::Program& program) {
  program.validate();
  onnx::GraphProto g;
  g.set_name(program.model.empty() ? "intrain_int8" : program.model);
  Int8Exporter(g).run(program);
  return graph::make_model(std::move(g), "int8 program exported by intrain (model " + program.model + ")");
}

void export_onnx_int8(const int8::Program& program, const std::string& path) {
  write_onnx_model(path, export_onnx_int8(program));
}

}  // namespace intrain::interop
