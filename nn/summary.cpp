#include "nn/summary.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "core/autograd.hpp"

namespace intrain::nn {

namespace {
using Recorded = std::map<const Module*, std::pair<Tensor, Tensor>>;  // input, output
thread_local Recorded* g_recorder = nullptr;

// Runs the model in eval mode with inputs and outputs recorded, restoring the mode after.
Recorded run_recorded(Module& model, const Tensor& input) {
  Recorded outputs;
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  g_recorder = &outputs;
  try {
    model(input);
  } catch (...) {
    g_recorder = nullptr;
    model.train(was_training);
    throw;
  }
  g_recorder = nullptr;
  model.train(was_training);
  return outputs;
}

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}
}  // namespace

void detail::record(const Module* module, const Tensor& input, const Tensor& output) {
  if (g_recorder && output.defined()) (*g_recorder)[module] = {input, output};
}

bool detail::recording() { return g_recorder != nullptr; }

namespace {
std::map<std::string, Tensor> capture(Module& model, const Tensor& input, bool inputs) {
  const Recorded recorded = run_recorded(model, input);
  std::map<std::string, Tensor> named;
  for (auto& [name, module] : model.named_modules()) {
    auto found = recorded.find(module);
    if (found != recorded.end()) named.emplace(name, inputs ? found->second.first : found->second.second);
  }
  return named;
}
}  // namespace

std::map<std::string, Tensor> capture_outputs(Module& model, const Tensor& input) { return capture(model, input, false); }
std::map<std::string, Tensor> capture_inputs(Module& model, const Tensor& input) { return capture(model, input, true); }

std::string summary(Module& model, const Shape& input_shape) {
  const auto shapes = run_recorded(model, Tensor::zeros(input_shape));

  struct Row {
    std::string name, type, shape, params;
  };
  std::vector<Row> rows;
  for (auto& [name, module] : model.named_modules()) {
    if (name.empty()) continue;
    int64_t own = 0;  // parameters held directly, not by children
    const auto all = module->named_parameters();
    for (auto& [pname, t] : all)
      if (pname.find('.') == std::string::npos) own += t.numel();
    const int depth = static_cast<int>(std::count(name.begin(), name.end(), '.'));
    std::string type = std::string(2 * depth, ' ') + module->type_name();
    if (!module->extra_repr().empty()) type += "(" + module->extra_repr() + ")";
    auto found = shapes.find(module);
    rows.push_back({name, type, found == shapes.end() ? "--" : shape_str(found->second.second.shape()),
                    own ? with_commas(own) : "--"});
  }
  size_t w[4] = {5, 4, 12, 7};
  for (const Row& r : rows) {
    w[0] = std::max(w[0], r.name.size());
    w[1] = std::max(w[1], r.type.size());
    w[2] = std::max(w[2], r.shape.size());
    w[3] = std::max(w[3], r.params.size());
  }
  std::ostringstream out;
  auto line = [&](const std::string& a, const std::string& b, const std::string& c, const std::string& d) {
    out << a << std::string(w[0] - a.size() + 2, ' ') << b << std::string(w[1] - b.size() + 2, ' ') << c
        << std::string(w[2] - c.size() + 2, ' ') << std::string(w[3] - d.size(), ' ') << d << '\n';
  };
  const std::string rule(w[0] + w[1] + w[2] + w[3] + 6, '=');
  out << rule << '\n';
  line("Layer", "Type", "Output shape", "Params");
  out << rule << '\n';
  line("input", "", shape_str(input_shape), "");
  for (const Row& r : rows) line(r.name, r.type, r.shape, r.params);
  out << rule << '\n';
  int64_t trainable = model.parameter_count(), buffers = 0;
  for (auto& [name, t] : model.named_buffers()) buffers += t.numel();
  out << "Total parameters: " << with_commas(trainable) << "\n";
  out << "Buffers (running statistics): " << with_commas(buffers) << "\n";
  char size[64];
  std::snprintf(size, sizeof size, "%.2f MB", static_cast<double>(trainable + buffers) * 4 / 1e6);
  out << "Float32 size: " << size << "\n";
  out << rule << '\n';
  return out.str();
}

}  // namespace intrain::nn
