#include "interop/onnx_export.hpp"

#include "core/autograd.hpp"
#include "interop/onnx_graph.hpp"
#include "nn/layers.hpp"

namespace intrain::interop {

namespace {

using graph::add_initializer;
using graph::add_node;

class FloatExporter {
 public:
  explicit FloatExporter(onnx::GraphProto& g) : g_(g) {}

  // Emits `m` (at module path `path`) applied to tensor `x`; returns its output tensor.
  std::string emit(nn::Module& m, const std::string& path, const std::string& x) {
    if (dynamic_cast<nn::Dropout*>(&m) || dynamic_cast<nn::Identity*>(&m)) return x;
    if (auto* seq = dynamic_cast<nn::Sequential*>(&m)) {
      std::string t = x;
      for (const auto& [name, child] : seq->children()) t = emit(*child, nn::join_path(path, name), t);
      return t;
    }
    if (auto* r = dynamic_cast<nn::Residual*>(&m)) {
      const std::string body = emit(*r->body(), nn::join_path(path, r->names().body), x);
      const std::string side = r->shortcut() ? emit(*r->shortcut(), nn::join_path(path, r->names().shortcut), x) : x;
      return node("Add", {body, side}, path)->output(0);
    }
    if (auto* c = dynamic_cast<nn::Conv2d*>(&m)) {
      const auto& o = c->options();
      if (o.dilation != 1) fail(m, path, "dilation is not exported");
      std::string w = add_initializer(g_, c->weight.detach(), nn::join_path(path, "weight"));
      onnx::NodeProto* n = c->bias.defined()
                               ? node("Conv", {x, w, add_initializer(g_, c->bias.detach(), nn::join_path(path, "bias"))}, path)
                               : node("Conv", {x, w}, path);
      graph::set_int(n, "group", o.groups);
      graph::set_window(n, c->weight.size(2), o.stride, o.padding);
      graph::set_ints(n, "dilations", {1, 1});
      return n->output(0);
    }
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(&m)) {
      const int64_t channels = bn->running_mean.size(0);
      const Tensor gamma = bn->weight.defined() ? bn->weight.detach() : Tensor::ones({channels});
      const Tensor beta = bn->bias.defined() ? bn->bias.detach() : Tensor::zeros({channels});
      onnx::NodeProto* n = node("BatchNormalization",
                                {x, add_initializer(g_, gamma, nn::join_path(path, "weight")),
                                 add_initializer(g_, beta, nn::join_path(path, "bias")),
                                 add_initializer(g_, bn->running_mean, nn::join_path(path, "running_mean")),
                                 add_initializer(g_, bn->running_var, nn::join_path(path, "running_var"))},
                                path);
      graph::set_float(n, "epsilon", bn->eps);
      graph::set_float(n, "momentum", 1.0f - bn->momentum);  // ONNX weighs the running value
      return n->output(0);
    }
    if (dynamic_cast<nn::ReLU*>(&m)) return node("Relu", {x}, path)->output(0);
    if (dynamic_cast<nn::ReLU6*>(&m)) return node("Clip", {x, constant("clip.min", 0), constant("clip.max", 6)}, path)->output(0);
    if (auto* p = dynamic_cast<nn::MaxPool2d*>(&m)) return pool("MaxPool", p->options(), x, path);
    if (auto* p = dynamic_cast<nn::AvgPool2d*>(&m)) {
      const std::string out = pool("AveragePool", p->options(), x, path);
      graph::set_int(g_.mutable_node(g_.node_size() - 1), "count_include_pad", 1);  // as intrain (and PyTorch by default) divide
      return out;
    }
    if (dynamic_cast<nn::AdaptiveAvgPool2d*>(&m)) return node("GlobalAveragePool", {x}, path)->output(0);
    if (dynamic_cast<nn::Flatten*>(&m)) {
      onnx::NodeProto* n = node("Flatten", {x}, path);
      graph::set_int(n, "axis", 1);
      return n->output(0);
    }
    if (auto* fc = dynamic_cast<nn::Linear*>(&m)) {
      std::string w = add_initializer(g_, fc->weight.detach(), nn::join_path(path, "weight"));
      onnx::NodeProto* n = fc->bias.defined()
                               ? node("Gemm", {x, w, add_initializer(g_, fc->bias.detach(), nn::join_path(path, "bias"))}, path)
                               : node("Gemm", {x, w}, path);
      graph::set_float(n, "alpha", 1.0f);
      graph::set_float(n, "beta", 1.0f);
      graph::set_int(n, "transB", 1);
      return n->output(0);
    }
    fail(m, path, "has no ONNX export (export the float model, before quantization)");
  }

 private:
  [[noreturn]] static void fail(const nn::Module& m, const std::string& path, const std::string& why) {
    throw Error("ONNX export: layer '" + path + "' (" + m.type_name() + ") " + why);
  }

  // Node names as PyTorch writes them ("/features.0.0/Conv"); outputs named after them.
  onnx::NodeProto* node(const std::string& op, std::initializer_list<std::string> inputs, const std::string& path) {
    const std::string name = (path.empty() ? "" : "/" + path) + "/" + op;
    return add_node(g_, op, inputs, name + "_output_" + std::to_string(count_++), name);
  }

  std::string constant(const std::string& name, float value) {
    for (const auto& init : g_.initializer())
      if (init.name() == name) return name;
    return add_initializer(g_, Tensor::scalar(value), name);
  }

  std::string pool(const std::string& op, const Pool2dOptions& o, const std::string& x, const std::string& path) {
    onnx::NodeProto* n = node(op, {x}, path);
    graph::set_window(n, o.kernel_h, o.stride_h ? o.stride_h : o.kernel_h, o.pad_h);
    return n->output(0);
  }

  onnx::GraphProto& g_;
  int64_t count_ = 0;
};

}  // namespace

onnx::ModelProto export_onnx(nn::Module& model, const Shape& input_shape, const std::string& graph_name) {
  INTRAIN_CHECK(input_shape.size() == 3 && input_shape[0] > 0 && input_shape[1] > 0 && input_shape[2] > 0,
                "ONNX export: the input shape must be [C, H, W], got ", shape_str(input_shape));
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  // The logits' width, from one forward pass on a blank image.
  Shape batch_shape = {1};
  batch_shape.insert(batch_shape.end(), input_shape.begin(), input_shape.end());
  const Tensor probe = model(Tensor::zeros(batch_shape));
  model.train(was_training);
  INTRAIN_CHECK(probe.dim() == 2, "ONNX export: the model's output is ", shape_str(probe.shape()),
                "; [N, classes] logits are expected");

  onnx::GraphProto g;
  g.set_name(graph_name);
  graph::add_value(g.mutable_input(), "input", onnx::TensorProto::FLOAT, input_shape);
  FloatExporter exporter(g);
  const std::string out = exporter.emit(model, "", "input");
  INTRAIN_CHECK(out != "input", "ONNX export: the model computes nothing");
  // The last node writes "logits" directly (renaming its output).
  g.mutable_node(g.node_size() - 1)->set_output(0, "logits");
  graph::add_value(g.mutable_output(), "logits", onnx::TensorProto::FLOAT, {probe.size(1)});
  return graph::make_model(std::move(g), "float model exported by intrain");
}

void export_onnx(nn::Module& model, const Shape& input_shape, const std::string& path, const std::string& graph_name) {
  write_onnx_model(path, export_onnx(model, input_shape, graph_name));
}

}  // namespace intrain::interop
