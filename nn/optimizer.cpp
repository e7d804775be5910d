#include "nn/optimizer.hpp"

#include <cmath>

#include "core/autograd.hpp"
#include "core/tensor_copy.hpp"

namespace intrain::nn {

Optimizer::Optimizer(NamedParameters params, double lr) : params_(std::move(params)), lr_(lr) {
  INTRAIN_CHECK(!params_.empty(), "Optimizer: no parameters to optimize");
  set_lr(lr);
}

void Optimizer::set_lr(double lr) {
  INTRAIN_CHECK(std::isfinite(lr) && lr >= 0, "Optimizer: learning rate must be finite and >= 0, got ", lr);
  lr_ = lr;
}

void Optimizer::zero_grad() {
  for (auto& [name, p] : params_) p.zero_grad();
}

Tensor& Optimizer::slot(const std::string& param, const std::string& name, const Tensor& like) {
  Tensor& t = state_[param][name];
  if (!t.defined()) t = Tensor::zeros(like.shape());
  return t;
}

std::map<std::string, Tensor> Optimizer::state_dict() const {
  std::map<std::string, Tensor> out;
  for (const auto& [param, slots] : state_)
    for (const auto& [name, t] : slots) out.emplace(param + "." + name, t);
  out.emplace("step", Tensor::full({}, static_cast<double>(steps_), DType::i32));
  return out;
}

void Optimizer::load_state_dict(const std::map<std::string, Tensor>& state) {
  std::map<std::string, std::map<std::string, Tensor>> loaded;
  for (const auto& [key, t] : state) {
    if (key == "step") continue;
    const auto dot = key.rfind('.');
    INTRAIN_CHECK(dot != std::string::npos, "Optimizer::load_state_dict: malformed key '", key, "'");
    const std::string param = key.substr(0, dot);
    const Tensor* live = nullptr;
    for (const auto& [name, p] : params_)
      if (name == param) live = &p;
    INTRAIN_CHECK(live, "Optimizer::load_state_dict: state for unknown parameter '", param, "'");
    INTRAIN_CHECK(t.shape() == live->shape() && t.dtype() == DType::f32, "Optimizer::load_state_dict: '", key,
                  "' has shape ", shape_str(t.shape()), ", parameter has ", shape_str(live->shape()));
    loaded[param][key.substr(dot + 1)] = t.contiguous().clone().detach();
  }
  auto step = state.find("step");
  INTRAIN_CHECK(step != state.end(), "Optimizer::load_state_dict: no 'step' entry");
  state_ = std::move(loaded);
  steps_ = step->second.item<int64_t>();
}

SGD::SGD(NamedParameters params, double lr, SgdOptions options) : Optimizer(std::move(params), lr), options_(options) {
  INTRAIN_CHECK(options.momentum >= 0 && options.weight_decay >= 0 && options.dampening >= 0,
                "SGD: momentum, dampening and weight_decay must be >= 0");
  INTRAIN_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
                "SGD: nesterov needs momentum > 0 and dampening = 0");
}

void SGD::step() {
  NoGradGuard no_grad;
  const auto lr = static_cast<float>(lr_), momentum = static_cast<float>(options_.momentum);
  const auto dampening = static_cast<float>(options_.dampening);
  for (auto& [name, p] : params_) {
    auto special = options_.weight_decay_by_name.find(name);
    const auto wd = static_cast<float>(special != options_.weight_decay_by_name.end() ? special->second
                                                                                         : options_.weight_decay);
    Tensor grad_t = p.grad();
    if (!grad_t.defined()) continue;
    grad_t = grad_t.contiguous();
    const float* g = grad_t.data<float>();
    float* w = p.data<float>();
    const int64_t n = p.numel();
    float* buf = nullptr;
    bool first = false;
    if (momentum != 0) {
      first = !state_[name].count("momentum_buffer");
      buf = slot(name, "momentum_buffer", p).data<float>();
    }
    for (int64_t i = 0; i < n; ++i) {
      float d = g[i] + wd * w[i];
      if (buf) {
        buf[i] = first ? d : momentum * buf[i] + (1 - dampening) * d;
        d = options_.nesterov ? d + momentum * buf[i] : buf[i];
      }
      w[i] -= lr * d;
    }
  }
  ++steps_;
}

Adam::Adam(NamedParameters params, double lr, AdamOptions options) : Optimizer(std::move(params), lr), options_(options) {
  INTRAIN_CHECK(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1,
                "Adam: betas must be in [0, 1), got ", options.beta1, ", ", options.beta2);
  INTRAIN_CHECK(options.eps > 0 && options.weight_decay >= 0, "Adam: eps must be > 0 and weight_decay >= 0");
}

void Adam::step() {
  NoGradGuard no_grad;
  ++steps_;
  const double b1 = options_.beta1, b2 = options_.beta2;
  const double correction1 = 1 - std::pow(b1, static_cast<double>(steps_));
  const double correction2 = 1 - std::pow(b2, static_cast<double>(steps_));
  const auto step_size = static_cast<float>(lr_ / correction1);
  const auto sqrt_c2 = static_cast<float>(std::sqrt(correction2)), eps = static_cast<float>(options_.eps);
  const auto wd = static_cast<float>(options_.weight_decay), lr = static_cast<float>(lr_);
  for (auto& [name, p] : params_) {
    Tensor grad_t = p.grad();
    if (!grad_t.defined()) continue;
    grad_t = grad_t.contiguous();
    const float* g = grad_t.data<float>();
    float* w = p.data<float>();
    float* m = slot(name, "exp_avg", p).data<float>();
    float* v = slot(name, "exp_avg_sq", p).data<float>();
    for (int64_t i = 0, i_end = p.numel(); i < i_end; ++i) {
      float d = g[i];
      if (options_.decoupled_weight_decay) w[i] -= lr * wd * w[i];
      else d += wd * w[i];
      m[i] = static_cast<float>(b1) * m[i] + static_cast<float>(1 - b1) * d;
      v[i] = static_cast<float>(b2) * v[i] + static_cast<float>(1 - b2) * d * d;
      w[i] -= step_size * m[i] / (std::sqrt(v[i]) / sqrt_c2 + eps);
    }
  }
}

AdamW::AdamW(NamedParameters params, double lr, AdamOptions options)
    : Adam(std::move(params), lr, [&] {
        options.decoupled_weight_decay = true;
        return options;
      }()) {}

}  // namespace intrain::nn
