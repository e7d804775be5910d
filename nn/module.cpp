#include "nn/module.hpp"

#include <sstream>

#include "core/autograd.hpp"
#include "core/tensor_copy.hpp"
#include "nn/summary.hpp"

namespace intrain::nn {

std::string join_path(const std::string& prefix, const std::string& name) {
  if (prefix.empty()) return name;
  if (name.empty()) return prefix;
  return prefix + "." + name;
}

Tensor Module::operator()(const Tensor& x) {
  Tensor out = forward(x);
  detail::record(this, x, out);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::check_new_name(const std::string& name, bool child) const {
  INTRAIN_CHECK((child || !name.empty()) && name.find('.') == std::string::npos, type_name(),
                ": invalid member name '", name, "' (no dots; only a child may have the empty name)");
  if (name.empty()) return;  // transparent children: clashes below them are found by state_dict
  auto taken = [&](const auto& list) {
    for (const auto& entry : list)
      if (entry.first == name) return true;
    return false;
  };
  INTRAIN_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_), type_name(), ": name '", name,
                "' is registered twice");
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  check_new_name(name);
  INTRAIN_CHECK(t.defined() && t.dtype() == DType::f32, type_name(), ": parameter '", name, "' must be f32");
  if (!t.requires_grad()) t.set_requires_grad(true);
  parameters_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_new_name(name);
  INTRAIN_CHECK(t.defined(), type_name(), ": buffer '", name, "' is undefined");
  buffers_.emplace_back(name, t);
  return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name, true);
  INTRAIN_CHECK(module != nullptr, type_name(), ": child '", name, "' is null");
  children_.emplace_back(name, std::move(module));
}

void Module::replace_child(size_t index, std::shared_ptr<Module> module) {
  INTRAIN_CHECK(index < children_.size(), type_name(), ": no child at position ", index, " to replace (it has ",
                children_.size(), ")");
  INTRAIN_CHECK(module != nullptr, type_name(), ": replacement for child '", children_[index].first, "' is null");
  children_[index].second = std::move(module);
}

namespace {

void collect(const Module& m, const std::string& prefix, bool parameters,
             std::vector<std::pair<std::string, Tensor>>& out,
             const std::vector<std::pair<std::string, Tensor>>& own) {
  for (const auto& [name, t] : own) out.emplace_back(join_path(prefix, name), t);
  for (const auto& [name, child] : m.children())
    for (auto& entry : parameters ? child->named_parameters() : child->named_buffers())
      out.emplace_back(join_path(join_path(prefix, name), entry.first), entry.second);
}

}  // namespace

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect(*this, "", true, out, parameters_);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect(*this, "", false, out, buffers_);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (auto& [name, child] : children_)
    for (auto& [sub, module] : child->named_modules()) out.emplace_back(join_path(name, sub), module);
  return out;
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (const Tensor& t : parameters()) n += t.numel();
  return n;
}

std::map<std::string, Tensor> Module::state_dict() const {
  std::map<std::string, Tensor> out;
  auto put = [&](const std::string& name, const Tensor& t) {
    INTRAIN_CHECK(out.emplace(name, t).second, type_name(), ": two members share the path '", name, "'");
  };
  for (auto& [name, t] : named_parameters()) put(name, t);
  for (auto& [name, t] : named_buffers()) put(name, t);
  return out;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  const std::map<std::string, Tensor> own = state_dict();
  std::vector<std::string> problems;
  for (const auto& [name, target] : own) {
    auto found = state.find(name);
    if (found == state.end()) {
      if (strict) problems.push_back("missing '" + name + "' " + shape_str(target.shape()));
      continue;
    }
    const Tensor& source = found->second;
    if (source.shape() != target.shape() || source.dtype() != target.dtype())
      problems.push_back("'" + name + "' has shape " + shape_str(source.shape()) + " " + dtype_name(source.dtype()) +
                         ", the model expects " + shape_str(target.shape()) + " " + dtype_name(target.dtype()));
  }
  if (strict)
    for (const auto& [name, source] : state)
      if (!own.count(name)) problems.push_back("unexpected '" + name + "' " + shape_str(source.shape()));
  if (!problems.empty()) {
    std::ostringstream message;
    message << "load_state_dict: " << problems.size() << " problem(s) loading into " << type_name() << ":";
    for (const std::string& p : problems) message << "\n  " << p;
    throw Error(message.str());
  }
  NoGradGuard no_grad;
  for (const auto& [name, target] : own) {
    auto found = state.find(name);
    if (found != state.end()) copy_into(target, found->second);
  }
}

void Module::zero_grad() {
  for (Tensor t : parameters()) t.zero_grad();
}

}  // namespace intrain::nn
