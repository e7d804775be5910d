#include "quant/modules.hpp"

#include <cmath>
#include <sstream>

#include "core/autograd.hpp"
#include "core/tensor_copy.hpp"
#include "quant/fake_quant.hpp"

namespace intrain::quant {

// ---- ActivationQuantizer ---------------------------------------------------------------

ActivationQuantizer::ActivationQuantizer(Algorithm algorithm, int bits, bool non_negative, const std::string& observer)
    : ActivationQuantizer(make_activation_quantizer(algorithm.name(), {bits, non_negative, observer})) {}

ActivationQuantizer::ActivationQuantizer(std::unique_ptr<ActivationQuantizerImpl> impl)
    : impl_(std::move(impl)), scheme_(impl_->scheme()) {
  scheme_.validate("ActivationQuantizer");
  range_.min = register_buffer("min", Tensor::zeros({1}));
  range_.max = register_buffer("max", Tensor::zeros({1}));
  range_.initialized = register_buffer("initialized", Tensor::zeros({}, DType::i32));
  impl_->attach([this](const std::string& name, Tensor value) { return register_parameter(name, std::move(value)); });
}

std::string ActivationQuantizer::extra_repr() const { return impl_->name() + ", " + scheme_.to_string(); }

void ActivationQuantizer::start_calibration() { impl_->start_calibration(); }

void ActivationQuantizer::freeze() { impl_->freeze(range_); }

QuantParams ActivationQuantizer::params() const { return impl_->params(range_); }

Tensor ActivationQuantizer::forward(const Tensor& x) {
  if (impl_->calibrating()) {
    impl_->observe(x.detach());
    return x;
  }
  const bool ready = range_.ready();
  if (!ready) {
    INTRAIN_CHECK(is_training(), "ActivationQuantizer: no range yet; calibrate (PTQ) or train (QAT) before evaluating");
    NoGradGuard no_grad;
    impl_->initialize(x.detach(), range_);
    range_.initialized.data<int32_t>()[0] = 1;
  }
  // The batch that set the range does not move it again.
  return impl_->forward(x, is_training() && ready, range_);
}

// ---- QuantAct ------------------------------------------------------------------------------

QuantAct::QuantAct(bool relu6, std::shared_ptr<ActivationQuantizer> quantizer)
    : relu6_(relu6), quantizer_(std::move(quantizer)) {
  register_module("quant", quantizer_);
}

Tensor QuantAct::forward(const Tensor& x) {
  if (quantizer_->replaces_relu()) return (*quantizer_)(x);  // PACT's clip is the activation
  return (*quantizer_)(relu6_ ? relu6(x) : relu(x));
}

// ---- QuantBatchNorm -------------------------------------------------------------------------

QuantBatchNorm::QuantBatchNorm(std::shared_ptr<nn::BatchNorm2d> bn, std::shared_ptr<ActivationQuantizer> quantizer)
    : bn_(std::move(bn)), quantizer_(std::move(quantizer)) {
  if (bn_->weight.defined()) register_parameter("weight", bn_->weight);
  if (bn_->bias.defined()) register_parameter("bias", bn_->bias);
  register_buffer("running_mean", bn_->running_mean);
  register_buffer("running_var", bn_->running_var);
  register_buffer("num_batches_tracked", bn_->num_batches_tracked);
  register_module("quant", quantizer_);
}

void QuantBatchNorm::train(bool on) {
  nn::Module::train(on);
  bn_->train(on);
}

// ---- QuantAvgPool, QuantResidual -----------------------------------------------------------

QuantAvgPool::QuantAvgPool(nn::ModulePtr pool, std::shared_ptr<ActivationQuantizer> quantizer)
    : pool_(std::move(pool)), quantizer_(std::move(quantizer)) {
  register_module("pool", pool_);
  register_module("quant", quantizer_);
}

QuantResidual::QuantResidual(const nn::Residual& residual, std::shared_ptr<ActivationQuantizer> quantizer,
                             Activation activation)
    : body_(residual.body()),
      shortcut_(residual.shortcut()),
      names_(residual.names()),
      quantizer_(std::move(quantizer)),
      activation_(activation) {
  register_module(names_.body, body_);  // the float block's names, so paths stay
  if (shortcut_) register_module(names_.shortcut, shortcut_);
  register_module("quant", quantizer_);
}

Tensor QuantResidual::forward(const Tensor& x) {
  Tensor side = shortcut_ ? (*shortcut_)(x) : x;
  Tensor sum = add((*body_)(x), side);
  if (activation_ == Activation::relu) sum = relu(sum);
  if (activation_ == Activation::relu6) sum = relu6(sum);
  return (*quantizer_)(sum);
}

// ---- WeightQuantizer -----------------------------------------------------------------------

WeightQuantizer::WeightQuantizer(Algorithm algorithm, int bits, bool per_channel, bool power_of_two, bool sat_quantize,
                                 bool followed_by_bn)
    : WeightQuantizer(std::shared_ptr<WeightQuantizerImpl>(make_weight_quantizer(
          algorithm.name(), {bits, per_channel, power_of_two, sat_quantize, followed_by_bn}))) {}

WeightQuantizer::WeightQuantizer(std::shared_ptr<WeightQuantizerImpl> impl) : impl_(std::move(impl)) {
  impl_->scheme().validate("WeightQuantizer");
}

// ---- QuantConv2d ---------------------------------------------------------------------------

QuantConv2d::QuantConv2d(const nn::Conv2d& conv, WeightQuantizer weights, std::shared_ptr<nn::BatchNorm2d> bn,
                         std::shared_ptr<ActivationQuantizer> input_quantizer)
    : options_(conv.op_options()), float_repr_(conv.extra_repr()), quantizer_(std::move(weights)), bn_(std::move(bn)),
      input_quantizer_(std::move(input_quantizer)) {
  weight = register_parameter("weight", conv.weight);
  if (conv.bias.defined()) bias = register_parameter("bias", conv.bias);
  if (input_quantizer_) register_module("input_quant", input_quantizer_);
  quantizer_.attach([this](const std::string& n, Tensor v) { return register_parameter(n, std::move(v)); },
                    effective_weight());
}

std::string QuantConv2d::extra_repr() const {
  return float_repr_ + ", w:" + quantizer_.scheme().to_string() + (bn_ ? ", folds BN" : "");
}

Tensor QuantConv2d::bn_scale() const {
  Tensor inv_std = pow(add(bn_->running_var.detach(), bn_->eps), -0.5f);
  return bn_->weight.defined() ? mul(bn_->weight, inv_std) : inv_std;
}

Tensor QuantConv2d::effective_weight() const {
  if (!folds()) return weight;
  return mul(weight, bn_scale().reshape({-1, 1, 1, 1}));
}

void QuantConv2d::set_effective_weight(const Tensor& w) {
  NoGradGuard no_grad;
  INTRAIN_CHECK(w.shape() == weight.shape(), "QuantConv2d::set_effective_weight: shape ", shape_str(w.shape()),
                ", expected ", shape_str(weight.shape()));
  copy_into(weight, folds() ? div(w, bn_scale().reshape({-1, 1, 1, 1})) : w);
}

Tensor QuantConv2d::forward(const Tensor& x_in) {
  Tensor x = input_quantizer_ ? (*input_quantizer_)(x_in) : x_in;
  Tensor wq = quantizer_.apply(effective_weight());
  if (!folds()) return conv2d(x, wq, bias, options_);
  // Undo the BN scale on the output so the BatchNorm that follows normalizes as in float.
  Tensor y = div(conv2d(x, wq, Tensor(), options_), bn_scale().reshape({1, -1, 1, 1}));
  return bias.defined() ? add(y, bias.reshape({1, -1, 1, 1})) : y;
}

namespace {

// Per-channel mean of `d` over every axis but 1 (batch and positions).
std::vector<float> channel_means(const Tensor& d) {
  std::vector<int64_t> dims;
  for (int64_t k = 0; k < d.dim(); ++k)
    if (k != 1) dims.push_back(k);
  return mean(d, dims).to_vector<float>();
}

void add_to(Tensor& t, const std::vector<float>& delta, float sign) {
  float* p = t.data<float>();
  for (size_t c = 0; c < delta.size(); ++c) p[c] += sign * delta[c];
}

}  // namespace

bool QuantConv2d::correct_bias(const Tensor& x_in) {
  NoGradGuard no_grad;
  if (!bias.defined() && !folds()) return false;
  Tensor x = input_quantizer_ ? (*input_quantizer_)(x_in) : x_in;
  const Tensor w = effective_weight().detach();
  Tensor shift = sub(conv2d(x, w, Tensor(), options_), conv2d(x, quantizer_.apply(w).detach(), Tensor(), options_));
  if (folds()) shift = div(shift, bn_scale().reshape({1, -1, 1, 1}));  // back to the layer's output units
  const std::vector<float> delta = channel_means(shift);
  if (bias.defined()) add_to(bias, delta, 1.0f);
  else add_to(bn_->running_mean, delta, -1.0f);  // BN(y − Δ) with μ − Δ equals BN(y) with μ
  return true;
}

bool QuantLinear::correct_bias(const Tensor& x_in) {
  NoGradGuard no_grad;
  if (!bias.defined()) return false;
  Tensor x = input_quantizer_ ? (*input_quantizer_)(x_in) : x_in;
  const Tensor w = weight.detach();
  const std::vector<float> delta =
      channel_means(sub(linear(x, w), linear(x, quantizer_.apply(w).detach())).reshape({-1, w.size(0)}).unsqueeze(2));
  add_to(bias, delta, 1.0f);
  return true;
}

// ---- QuantLinear ---------------------------------------------------------------------------

QuantLinear::QuantLinear(const nn::Linear& linear, WeightQuantizer weights, std::shared_ptr<ActivationQuantizer> input_quantizer)
    : float_repr_(linear.extra_repr()), quantizer_(std::move(weights)), input_quantizer_(std::move(input_quantizer)) {
  weight = register_parameter("weight", linear.weight);
  if (linear.bias.defined()) bias = register_parameter("bias", linear.bias);
  if (input_quantizer_) register_module("input_quant", input_quantizer_);
  quantizer_.attach([this](const std::string& n, Tensor v) { return register_parameter(n, std::move(v)); }, weight);
}

std::string QuantLinear::extra_repr() const { return float_repr_ + ", w:" + quantizer_.scheme().to_string(); }

Tensor QuantLinear::forward(const Tensor& x_in) {
  Tensor x = input_quantizer_ ? (*input_quantizer_)(x_in) : x_in;
  return linear(x, quantizer_.apply(weight), bias);
}

}  // namespace intrain::quant
