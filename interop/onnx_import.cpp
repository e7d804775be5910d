#include "interop/onnx_import.hpp"

#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include "core/autograd.hpp"
#include "interop/module_paths.hpp"
#include "interop/onnx_io.hpp"
#include "models/registry.hpp"
#include "nn/layers.hpp"

namespace intrain::interop {

namespace {

using nn::make;
// The graph's one non-initializer input and one example's shape (−1 where symbolic); throws
// naming `file` when there is none or more than one.
std::string image_input(const onnx::GraphProto& graph, const std::string& file, Shape* example_shape) {
  std::set<std::string> initializers;
  for (const auto& init : graph.initializer()) initializers.insert(init.name());
  std::string input;
  for (const auto& value : graph.input())
    if (!initializers.count(value.name())) {
      INTRAIN_CHECK(input.empty(), "ONNX import '", file, "': the graph has more than one input ('", input, "' and '",
                    value.name(), "'); one image input is supported");
      input = value.name();
      example_shape->clear();
      const auto& shape = value.type().tensor_type().shape();
      for (int d = 1; d < shape.dim_size(); ++d)
        example_shape->push_back(shape.dim(d).has_dim_value() ? shape.dim(d).dim_value() : -1);
    }
  INTRAIN_CHECK(!input.empty(), "ONNX import '", file, "': the graph has no input");
  return input;
}

class Importer {
 public:
  Importer(const onnx::ModelProto& model, std::string file) : graph_(model.graph()), file_(std::move(file)) {
    for (const auto& opset : model.opset_import())
      if (opset.domain().empty() || opset.domain() == "ai.onnx") opset_ = opset.version();
    for (const auto& init : graph_.initializer()) initializers_[init.name()] = &init;
    for (int i = 0; i < graph_.node_size(); ++i) {
      const onnx::NodeProto& node = graph_.node(i);
      if (node.op_type() == "Constant" && is_default_domain(node)) {
        read_constant(node);
        continue;
      }
      for (const std::string& input : node.input())
        if (!input.empty() && !is_constant(input)) consumers_[input].push_back(i);
    }
    visited_.assign(static_cast<size_t>(graph_.node_size()), false);
  }

  OnnxImport run() {
    const std::string input = image_input(graph_, file_, &result_.input_shape);
    INTRAIN_CHECK(graph_.output_size() == 1, "ONNX import '", file_, "': the graph has ", graph_.output_size(),
                  " outputs; one is supported");
    output_ = graph_.output(0).name();

    std::string t = input;
    std::vector<Item> items = chain(t, /*in_branch=*/false, nullptr);
    INTRAIN_CHECK(t == output_, "ONNX import '", file_, "': the chain from the input ends at '", t,
                  "', not at the graph output '", output_, "'");
    for (int i = 0; i < graph_.node_size(); ++i) {
      const onnx::NodeProto& node = graph_.node(i);
      INTRAIN_CHECK(visited_[static_cast<size_t>(i)] || (node.op_type() == "Constant" && is_default_domain(node)),
                    "ONNX import '", file_, "': node '", node.name(), "' (", node.op_type(),
                    ") is not on the chain of layers from the input to the output; only chains of layers and "
                    "residual blocks (a fork joined by Add) are supported");
    }
    std::set<std::string> used;
    result_.model = build_tree(std::move(items), used);
    result_.model->eval();
    return std::move(result_);
  }

 private:
  static bool is_default_domain(const onnx::NodeProto& node) { return node.domain().empty() || node.domain() == "ai.onnx"; }

  [[noreturn]] void fail(const onnx::NodeProto& node, const std::string& why) const {
    throw Error("ONNX import '" + file_ + "': node '" + node.name() + "' (" + node.op_type() + "): " + why);
  }

  void read_constant(const onnx::NodeProto& node) {
    if (node.attribute_size() != 1 || node.attribute(0).name() != "value" || !node.attribute(0).has_t() ||
        node.output_size() != 1)
      fail(node, "only Constant nodes holding a tensor ('value') are supported");
    constants_[node.output(0)] = tensor_from_onnx(node.attribute(0).t(), "ONNX import '" + file_ + "': constant '" +
                                                                              node.output(0) + "'");
  }

  bool is_constant(const std::string& name) const { return initializers_.count(name) || constants_.count(name); }

  Tensor constant(const onnx::NodeProto& node, int index, const char* role) {
    if (index >= node.input_size() || node.input(index).empty()) fail(node, std::string("has no ") + role + " input");
    const std::string& name = node.input(index);
    if (auto found = constants_.find(name); found != constants_.end()) return found->second;
    auto init = initializers_.find(name);
    if (init == initializers_.end())
      fail(node, std::string("its ") + role + " '" + name + "' is computed, not an initializer or constant; only constant " +
                     role + "s are supported");
    return tensor_from_onnx(*init->second, "ONNX import '" + file_ + "': initializer '" + name + "'");
  }

  Tensor float_constant(const onnx::NodeProto& node, int index, const char* role, const Shape& shape) {
    Tensor t = constant(node, index, role);
    if (t.dtype() != DType::f32) fail(node, std::string(role) + " '" + node.input(index) + "' is not float");
    if (shape_numel(t.shape()) != shape_numel(shape) || (shape.size() > 1 && t.shape() != shape))
      fail(node, std::string(role) + " '" + node.input(index) + "' has shape " + shape_str(t.shape()) + ", expected " +
                     shape_str(shape));
    return t.reshape(shape);
  }

  // ---- attributes ---------------------------------------------------------------------
  void allow_attributes(const onnx::NodeProto& node, std::initializer_list<const char*> names) const {
    for (const auto& a : node.attribute()) {
      bool known = false;
      for (const char* n : names) known = known || a.name() == n;
      if (!known) fail(node, "attribute '" + a.name() + "' is not supported");
    }
  }
  static const onnx::AttributeProto* attribute(const onnx::NodeProto& node, const char* name) {
    for (const auto& a : node.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  int64_t int_attr(const onnx::NodeProto& node, const char* name, int64_t fallback) const {
    const auto* a = attribute(node, name);
    if (!a) return fallback;
    if (a->type() != onnx::AttributeProto::INT) fail(node, std::string("attribute '") + name + "' is not an integer");
    return a->i();
  }
  float float_attr(const onnx::NodeProto& node, const char* name, float fallback) const {
    const auto* a = attribute(node, name);
    if (!a) return fallback;
    if (a->type() != onnx::AttributeProto::FLOAT) fail(node, std::string("attribute '") + name + "' is not a float");
    return a->f();
  }
  std::vector<int64_t> ints_attr(const onnx::NodeProto& node, const char* name) const {
    const auto* a = attribute(node, name);
    if (!a) return {};
    if (a->type() != onnx::AttributeProto::INTS) fail(node, std::string("attribute '") + name + "' is not a list of integers");
    return {a->ints().begin(), a->ints().end()};
  }
  void require_no_auto_pad(const onnx::NodeProto& node) const {
    if (const auto* a = attribute(node, "auto_pad"); a && a->s() != "NOTSET")
      fail(node, "auto_pad=" + a->s() + " is not supported (export with explicit pads)");
  }

  // Square windows: kernel_shape, strides and pads the same along both axes, pads symmetric.
  struct Window {
    int64_t kernel = 0, stride = 1, padding = 0;
  };
  Window window(const onnx::NodeProto& node, int64_t kernel_from_weight) const {
    require_no_auto_pad(node);
    Window w;
    const auto kernel = ints_attr(node, "kernel_shape");
    if (kernel.empty() && kernel_from_weight < 0) fail(node, "has no kernel_shape");
    if (!kernel.empty() && (kernel.size() != 2 || kernel[0] != kernel[1] || kernel[0] < 1))
      fail(node, "only square 2-D kernels are supported");
    w.kernel = kernel.empty() ? kernel_from_weight : kernel[0];
    if (kernel_from_weight >= 0 && w.kernel != kernel_from_weight) fail(node, "kernel_shape disagrees with the weight");
    const auto strides = ints_attr(node, "strides");
    if (!strides.empty() && (strides.size() != 2 || strides[0] != strides[1] || strides[0] < 1))
      fail(node, "only equal strides along both axes are supported");
    if (!strides.empty()) w.stride = strides[0];
    const auto pads = ints_attr(node, "pads");
    if (!pads.empty() && (pads.size() != 4 || pads[0] != pads[1] || pads[0] != pads[2] || pads[0] != pads[3] || pads[0] < 0))
      fail(node, "asymmetric or unequal pads are not supported (pads must be four equal values)");
    if (!pads.empty()) w.padding = pads[0];
    for (int64_t d : ints_attr(node, "dilations"))
      if (d != 1) fail(node, "dilation " + std::to_string(d) + " is not supported");
    if (int_attr(node, "ceil_mode", 0) != 0) fail(node, "ceil_mode=1 is not supported");
    return w;
  }

  // ---- naming -------------------------------------------------------------------------
  // The path of a layer: its weight's PyTorch name, else the node's PyTorch scope, else its
  // operator beside the previous layer.
  Segments layer_path(const onnx::NodeProto& node, int weight_input) {
    Segments path;
    if (weight_input >= 0 && weight_input < node.input_size()) {
      const std::string& w = node.input(weight_input);
      const std::string suffix = ".weight";
      if (w.size() > suffix.size() && w.compare(w.size() - suffix.size(), suffix.size(), suffix) == 0 &&
          is_module_path(w.substr(0, w.size() - suffix.size())))
        path = split_path(w.substr(0, w.size() - suffix.size()));
    }
    if (path.empty() && scope_path(node.name(), path)) {
      if (path.empty()) path = {lower(node.op_type())};  // PyTorch's root scope (a functional call in forward)
    } else if (path.empty()) {
      path = last_path_;
      if (!path.empty()) path.pop_back();
      path.push_back(lower(node.op_type()));
    }
    return path;
  }

  // Layer paths are made unique over the whole model (PyTorch reuses a module such as
  // ResNet's relu twice in one block: the second use becomes relu_1).
  Segments unique(Segments path) {
    const std::string base = path.back();
    for (int k = 1; used_paths_.count(join_segments(path)); ++k) path.back() = base + "_" + std::to_string(k);
    used_paths_.insert(join_segments(path));
    last_path_ = path;
    return path;
  }

  // ---- the chain ----------------------------------------------------------------------
  const std::vector<int>& consumers(const std::string& t) const {
    static const std::vector<int> none;
    auto found = consumers_.find(t);
    return found == consumers_.end() ? none : found->second;
  }

  // Add of two computed tensors: where a residual block's branches meet.
  bool is_join(const onnx::NodeProto& node) const {
    return node.op_type() == "Add" && node.input_size() == 2 && node.output_size() == 1 && !is_constant(node.input(0)) &&
           !is_constant(node.input(1));
  }

  // Follows single-consumer layers from tensor `t` (updated to the last output reached)
  // until the graph output, or — within a branch — a join, whose index goes to *join.
  std::vector<Item> chain(std::string& t, bool in_branch, int* join) {
    std::vector<Item> items;
    while (true) {
      const std::vector<int>& next = consumers(t);
      if (t == output_) {
        INTRAIN_CHECK(next.empty() && !in_branch, "ONNX import '", file_, "': the graph output '", t,
                      "' is also used inside the graph");
        return items;
      }
      if (next.empty()) throw Error("ONNX import '" + file_ + "': tensor '" + t + "' is used by no node and is not the output");
      if (next.size() == 1 && is_join(graph_.node(next[0]))) {
        if (!in_branch) fail(graph_.node(next[0]), "adds tensors that do not fork from one point (not a residual block)");
        *join = next[0];
        return items;
      }
      if (next.size() == 2) {
        items.push_back(residual(t, next));
        continue;
      }
      if (next.size() > 2)
        fail(graph_.node(next[0]), "tensor '" + t + "' feeds " + std::to_string(next.size()) +
                                       " nodes; only forks into two branches joined by Add are supported");
      const onnx::NodeProto& node = graph_.node(next[0]);
      visited_[static_cast<size_t>(next[0])] = true;
      if (node.input(0) != t) fail(node, "takes the activation '" + t + "' as input " + "other than its first");
      layer(node, t, items);
    }
  }

  // Walks one branch from the fork tensor through its first node; returns its items and
  // the join it reaches (the join itself when the branch is the identity).
  std::vector<Item> branch(const std::string& fork, int first, int& join, std::string& end) {
    end = fork;
    if (is_join(graph_.node(first))) {
      join = first;
      return {};
    }
    const onnx::NodeProto& node = graph_.node(first);
    visited_[static_cast<size_t>(first)] = true;
    if (node.input(0) != fork) fail(node, "takes the activation '" + fork + "' as input other than its first");
    std::vector<Item> items;
    layer(node, end, items);
    std::vector<Item> rest = chain(end, true, &join);
    for (Item& i : rest) items.push_back(std::move(i));
    return items;
  }

  Item residual(std::string& t, const std::vector<int>& next) {
    int join_a = -1, join_b = -1;
    std::string end_a, end_b;
    std::vector<Item> a = branch(t, next[0], join_a, end_a);
    std::vector<Item> b = branch(t, next[1], join_b, end_b);
    const onnx::NodeProto& add = graph_.node(join_a);
    if (join_a != join_b || join_a < 0)
      fail(add, "the two branches from '" + t + "' do not meet at one Add (only residual blocks are supported)");
    if (a.empty() && b.empty()) fail(add, "adds a tensor to itself");
    if (add.attribute_size() != 0) fail(add, "attributes on Add are not supported");
    visited_[static_cast<size_t>(join_a)] = true;
    // The body is the Add's first input (PyTorch writes body + shortcut) unless that is the identity.
    bool a_is_body = add.input(0) == end_a;
    if (a.empty()) a_is_body = false;
    if (b.empty()) a_is_body = true;
    std::vector<Item>& body = a_is_body ? a : b;
    std::vector<Item>& shortcut = a_is_body ? b : a;
    Segments path;
    if (!scope_path(add.name(), path) || path.empty()) path = unique({"residual"});
    std::set<std::string> used;  // body and shortcut are transparent: their names share one level
    auto relative = [&](std::vector<Item>& items) {
      for (Item& i : items)
        if (i.path.size() > path.size() && std::equal(path.begin(), path.end(), i.path.begin()))
          i.path.erase(i.path.begin(), i.path.begin() + static_cast<std::ptrdiff_t>(path.size()));
      return build_tree(std::move(items), used);
    };
    nn::ModulePtr body_module = relative(body);
    nn::ModulePtr shortcut_module = shortcut.empty() ? nullptr : relative(shortcut);
    t = add.output(0);
    last_path_ = path;
    last_path_.push_back("add");
    return {path, make<nn::Residual>(body_module, shortcut_module, nn::ResidualNames{.body = "", .shortcut = ""})};
  }

  // ---- layers -------------------------------------------------------------------------
  static void assign(const Tensor& dst, const Tensor& src) {
    const Tensor c = src.contiguous();
    std::memcpy(const_cast<Tensor&>(dst).data<float>(), c.data<float>(), static_cast<size_t>(c.numel()) * sizeof(float));
  }

  void one_output(const onnx::NodeProto& node) const {
    if (node.output_size() != 1) fail(node, "only the first output is supported (" + std::to_string(node.output_size()) + " given)");
  }

  // Converts `node` (its activation input is `t`) into layers appended to `items`; `t`
  // becomes the tensor the chain continues from.
  void layer(const onnx::NodeProto& node, std::string& t, std::vector<Item>& items) {
    if (!is_default_domain(node)) fail(node, "operators of domain '" + node.domain() + "' are not supported");
    if (node.output_size() < 1) fail(node, "has no output");
    const std::string& op = node.op_type();
    if (op == "Dropout") {
      allow_attributes(node, {"seed", "ratio", "is_test"});
      if (node.output_size() > 1 && !node.output(1).empty() && !consumers(node.output(1)).empty())
        fail(node, "its mask output is used");
      t = node.output(0);
      return;
    }
    one_output(node);
    const std::string out = node.output(0);
    if (op == "Identity") {
      t = out;
      return;
    }
    if (op == "Conv") return conv(node, t, items);
    if (op == "Gemm" || op == "MatMul") return linear(node, t, items);
    if (op == "BatchNormalization") return batch_norm(node, t, items);
    nn::ModulePtr m;
    if (op == "Relu") {
      allow_attributes(node, {});
      m = make<nn::ReLU>();
    } else if (op == "Clip") {
      m = clip(node);
    } else if (op == "MaxPool" || op == "AveragePool") {
      if (op == "MaxPool") allow_attributes(node, {"kernel_shape", "strides", "pads", "dilations", "ceil_mode", "auto_pad", "storage_order"});
      else allow_attributes(node, {"kernel_shape", "strides", "pads", "ceil_mode", "auto_pad", "count_include_pad"});
      if (int_attr(node, "storage_order", 0) != 0) fail(node, "storage_order=1 is not supported");
      const Window w = window(node, -1);
      if (op == "MaxPool") {
        m = make<nn::MaxPool2d>(w.kernel, w.stride, w.padding);
      } else {
        // intrain's average pooling divides by the whole window, padding included (PyTorch's default).
        if (w.padding > 0 && int_attr(node, "count_include_pad", 0) == 0)
          fail(node, "padded average pooling with count_include_pad=0 is not supported");
        m = make<nn::AvgPool2d>(w.kernel, w.stride, w.padding);
      }
    } else if (op == "GlobalAveragePool") {
      allow_attributes(node, {});
      m = make<nn::AdaptiveAvgPool2d>();
    } else if (op == "Flatten") {
      allow_attributes(node, {"axis"});
      if (int_attr(node, "axis", 1) != 1) fail(node, "only axis=1 is supported");
      m = make<nn::Flatten>();
    } else if (op == "Reshape") {
      allow_attributes(node, {"allowzero"});
      if (int_attr(node, "allowzero", 0) != 0) fail(node, "allowzero=1 is not supported");
      const std::vector<int32_t> shape = constant(node, 1, "shape").to(DType::i32).to_vector<int32_t>();
      // [N, -1] written as [0, -1] (copy the batch) or [-1, K]: a flatten of all but the batch.
      const bool flatten = shape.size() == 2 && ((shape[0] == 0 && shape[1] == -1) || (shape[0] == -1 && shape[1] > 0));
      if (!flatten) fail(node, "only a reshape to [N, -1] (a flatten) is supported");
      m = make<nn::Flatten>();
    } else {
      fail(node, "operator '" + op + "' is not supported");
    }
    items.push_back({unique(layer_path(node, -1)), m});
    t = out;
  }

  nn::ModulePtr clip(const onnx::NodeProto& node) {
    float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
    if (opset_ < 11) {
      allow_attributes(node, {"min", "max"});
      lo = float_attr(node, "min", lo);
      hi = float_attr(node, "max", hi);
    } else {
      allow_attributes(node, {});
      if (node.input_size() > 1 && !node.input(1).empty()) lo = float_constant(node, 1, "min", {1}).item();
      if (node.input_size() > 2 && !node.input(2).empty()) hi = float_constant(node, 2, "max", {1}).item();
    }
    if (lo == 0 && hi == 6) return make<nn::ReLU6>();
    if (lo == 0 && std::isinf(hi) && hi > 0) return make<nn::ReLU>();
    fail(node, "Clip(" + std::to_string(lo) + ", " + std::to_string(hi) + ") is not supported; only ReLU6 (0, 6) and ReLU (0, inf) are");
  }

  // Whether the layer after `t` is an activation or a batch norm (a conv without either
  // gets an identity batch norm, see onnx_import.hpp).
  bool followed_by_norm_or_activation(const std::string& t) const {
    const std::vector<int>& next = consumers(t);
    if (next.size() != 1) return false;
    const std::string& op = graph_.node(next[0]).op_type();
    return op == "Relu" || op == "Clip" || op == "BatchNormalization";
  }

  void conv(const onnx::NodeProto& node, std::string& t, std::vector<Item>& items) {
    allow_attributes(node, {"kernel_shape", "strides", "pads", "dilations", "group", "auto_pad"});
    Tensor w = constant(node, 1, "weight");
    if (w.dtype() != DType::f32 || w.dim() != 4 || w.size(2) != w.size(3))
      fail(node, "weight '" + node.input(1) + "' must be float [out, in/groups, k, k], got " + shape_str(w.shape()));
    const Window win = window(node, w.size(2));
    const int64_t groups = int_attr(node, "group", 1), out = w.size(0);
    if (groups < 1 || out % groups != 0) fail(node, "group=" + std::to_string(groups) + " does not divide the " +
                                                       std::to_string(out) + " output channels");
    Tensor bias;
    if (node.input_size() > 2 && !node.input(2).empty()) bias = float_constant(node, 2, "bias", {out});
    const bool add_norm = !followed_by_norm_or_activation(node.output(0));
    auto c = make<nn::Conv2d>(w.size(1) * groups, out, w.size(2),
                              nn::Conv2dOptions{.stride = win.stride, .padding = win.padding, .groups = groups,
                                                .bias = bias.defined() && !add_norm},
                              init_);
    assign(c->weight, w);
    if (bias.defined() && !add_norm) assign(c->bias, bias);
    const Segments path = unique(layer_path(node, 1));
    items.push_back({path, c});
    t = node.output(0);
    if (!add_norm) return;
    // The identity batch norm: (x − 0)/sqrt(σ² + ε)·1 + β with σ² = 1 − 2^−10 and ε = 2^−10,
    // whose sum is exactly 1 in float: x + β exactly. Frozen, so that training keeps it an
    // affine map instead of normalizing by batch statistics.
    constexpr float eps = 1.0f / 1024;
    auto bn = make<nn::BatchNorm2d>(out, eps);
    bn->frozen_stats = true;
    assign(bn->running_var, Tensor::full({out}, 1.0f - eps));
    if (bias.defined()) assign(bn->bias, bias);
    Segments bn_path = path;
    const std::string& last = path.back();
    const bool index = !last.empty() && last.find_first_not_of("0123456789") == std::string::npos && last.size() < 9;
    bn_path.back() = index ? std::to_string(std::stoi(last) + 1) : last + "_bn";  // torchvision's "conv.2" → "conv.3"
    items.push_back({unique(bn_path), bn});
  }

  void batch_norm(const onnx::NodeProto& node, std::string& t, std::vector<Item>& items) {
    allow_attributes(node, {"epsilon", "momentum", "training_mode", "spatial"});
    if (int_attr(node, "training_mode", 0) != 0) fail(node, "training_mode=1 is not supported (export in eval mode)");
    if (int_attr(node, "spatial", 1) != 1) fail(node, "spatial=0 is not supported");
    Tensor scale = constant(node, 1, "scale");
    if (scale.dim() != 1 || scale.dtype() != DType::f32) fail(node, "scale must be a float vector");
    const int64_t c = scale.size(0);
    // ONNX's momentum weighs the running value (0.9), PyTorch's and intrain's the new one (0.1).
    auto bn = make<nn::BatchNorm2d>(c, float_attr(node, "epsilon", 1e-5f), 1.0f - float_attr(node, "momentum", 0.9f));
    assign(bn->weight, scale);
    assign(bn->bias, float_constant(node, 2, "bias", {c}));
    assign(bn->running_mean, float_constant(node, 3, "mean", {c}));
    assign(bn->running_var, float_constant(node, 4, "variance", {c}));
    items.push_back({unique(layer_path(node, 1)), bn});
    t = node.output(0);
  }

  // Gemm (alpha·A·B' + beta·C), or MatMul by a constant [in, out] with an optional Add of a
  // constant bias right after it.
  void linear(const onnx::NodeProto& node, std::string& t, std::vector<Item>& items) {
    Tensor b = constant(node, 1, "weight");
    if (b.dtype() != DType::f32 || b.dim() != 2) fail(node, "weight '" + node.input(1) + "' must be a float matrix");
    Tensor weight, bias;
    std::string out = node.output(0);
    if (node.op_type() == "Gemm") {
      allow_attributes(node, {"alpha", "beta", "transA", "transB"});
      if (int_attr(node, "transA", 0) != 0) fail(node, "transA=1 is not supported");
      weight = int_attr(node, "transB", 0) ? b : b.t().contiguous();
      if (const float alpha = float_attr(node, "alpha", 1.0f); alpha != 1.0f) weight = mul(weight, alpha);
      if (node.input_size() > 2 && !node.input(2).empty()) {
        bias = float_constant(node, 2, "bias", {weight.size(0)});
        if (const float beta = float_attr(node, "beta", 1.0f); beta != 1.0f) bias = mul(bias, beta);
      }
    } else {
      allow_attributes(node, {});
      weight = b.t().contiguous();
      const std::vector<int>& next = consumers(out);
      if (next.size() == 1 && graph_.node(next[0]).op_type() == "Add" && !is_join(graph_.node(next[0]))) {
        const onnx::NodeProto& add = graph_.node(next[0]);
        const int constant_input = add.input(0) == out ? 1 : 0;
        bias = float_constant(add, constant_input, "bias", {weight.size(0)});
        visited_[static_cast<size_t>(next[0])] = true;
        out = add.output(0);
      }
    }
    auto fc = make<nn::Linear>(weight.size(1), weight.size(0), bias.defined(), init_);
    assign(fc->weight, weight);
    if (bias.defined()) assign(fc->bias, bias);
    items.push_back({unique(layer_path(node, 1)), fc});
    t = out;
  }

  const onnx::GraphProto& graph_;
  std::string file_;
  int64_t opset_ = kOnnxOpset;
  std::map<std::string, const onnx::TensorProto*> initializers_;
  std::map<std::string, Tensor> constants_;
  std::map<std::string, std::vector<int>> consumers_;
  std::vector<bool> visited_;
  std::set<std::string> used_paths_;
  Segments last_path_;
  std::string output_;
  Generator init_;  // the layers' initial values, overwritten at once: not the default generator
  OnnxImport result_;
};

}  // namespace

OnnxImport import_onnx_bytes(const std::string& bytes, const std::string& name) {
  const onnx::ModelProto model = parse_onnx_model(bytes, name);
  NoGradGuard no_grad;
  return Importer(model, name).run();
}

OnnxImport import_onnx(const std::string& path) {
  const onnx::ModelProto model = read_onnx_model(path);
  NoGradGuard no_grad;
  return Importer(model, path).run();
}

Shape onnx_input_shape(const std::string& path) {
  Shape shape;
  image_input(read_onnx_model(path).graph(), path, &shape);
  return shape;
}

void register_onnx_model_source() {
  models::register_model_source("onnx", [](const std::string& path) { return import_onnx(path).model; });
}

}  // namespace intrain::interop
