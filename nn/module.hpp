#pragma once
// Module: the unit networks are built from. A module owns named parameters (trained),
// buffers (state that is saved but not trained, like BatchNorm's running statistics) and
// child modules; names compose into dotted paths ("features.3.weight") for state_dict,
// checkpoints and per-layer quantization rules. A child registered under the empty name is
// transparent: its members appear directly under its parent's path (a residual block's body
// whose layers torchvision names "conv1", "bn1", ... on the block itself).
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.hpp"

namespace intrain::nn {

// "a.b" + "c" → "a.b.c"; an empty part adds nothing (the root, a transparent child).
std::string join_path(const std::string& prefix, const std::string& name);

class Module {
 public:
  virtual ~Module() = default;

  // The computation; call through operator() so summaries can observe it.
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x);
  // The layer kind for summaries ("Conv2d", "Linear", ...).
  virtual std::string type_name() const = 0;
  // Constructor arguments for summaries ("1, 20, kernel_size=5"); empty by default.
  virtual std::string extra_repr() const { return {}; }

  virtual void train(bool on = true);  // recursive; modules holding unregistered modules extend it
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Recursive, in registration order, with dotted names.
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  std::vector<std::pair<std::string, Module*>> named_modules();  // this module first, as ""
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }
  int64_t parameter_count() const;

  // Parameters and buffers by dotted name. Tensors are the live ones (shared storage).
  // Throws when two members reach the same path (possible only through transparent children).
  std::map<std::string, Tensor> state_dict() const;
  // Copies values into the live tensors. Strict: every name must match both ways and
  // every shape must agree; the error names each missing, unexpected or mis-shaped tensor.
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);
  void zero_grad();
  // Swaps the child at `index` of children() for another module (model transforms such as
  // quantization use this); its name, and so the dotted paths below it, stay. By position,
  // not by name: transparent children all have the empty name.
  void replace_child(size_t index, std::shared_ptr<Module> module);

 protected:
  // Registers and returns the tensor (the module keeps its own handle to the same tensor).
  Tensor register_parameter(const std::string& name, Tensor t);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name, bool child = false) const;

  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

using ModulePtr = std::shared_ptr<Module>;

}  // namespace intrain::nn
