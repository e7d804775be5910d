#include "quant/modules.hpp"

#include <cmath>
#include <sstream>

#include "core/autograd.hpp"
#include "core/tensor_copy.hpp"
#include "quant/fake_quant.hpp"

namespace intrain::quant {

namespace {

QuantScheme activation_scheme(Algorithm algorithm, int bits, bool non_negative) {
  if (non_negative) return QuantScheme::activation_unsigned(bits);
  // LSQ needs a zero point of 0: signed symmetric for signed inputs; others are affine.
  if (algorithm == Algorithm::lsq) return QuantScheme{bits, true, true, -1, false, false};
  return QuantScheme::activation_affine(bits);
}

// PACT clips at 0, so it only serves non-negative activations; a signed network input
// falls back to min-max.
Algorithm effective_algorithm(Algorithm a, bool non_negative) {
  if ((a == Algorithm::pact || a == Algorithm::sat) && !non_negative) return Algorithm::minmax;
  if (a == Algorithm::sat) return Algorithm::pact;  // SAT quantizes activations with PACT
  return a;
}

}  // namespace

// ---- ActivationQuantizer ---------------------------------------------------------------

ActivationQuantizer::ActivationQuantizer(Algorithm algorithm, int bits, bool non_negative, const std::string& observer)
    : algorithm_(effective_algorithm(algorithm, non_negative)), bits_(bits),
      scheme_(activation_scheme(effective_algorithm(algorithm, non_negative), bits, non_negative)),
      observer_name_(observer) {
  scheme_.validate("ActivationQuantizer");
  min_ = register_buffer("min", Tensor::zeros({1}));
  max_ = register_buffer("max", Tensor::zeros({1}));
  initialized_ = register_buffer("initialized", Tensor::zeros({}, DType::i32));
  if (algorithm_ == Algorithm::pact) alpha_ = register_parameter("alpha", Tensor::full({1}, 1.0));
  if (algorithm_ == Algorithm::lsq) step_ = register_parameter("step", Tensor::full({1}, 1.0));
}

std::string ActivationQuantizer::extra_repr() const {
  return std::string(algorithm_name(algorithm_)) + ", " + scheme_.to_string();
}

void ActivationQuantizer::start_calibration() { calibration_ = make_observer(observer_name_, scheme_); }

void ActivationQuantizer::freeze() {
  INTRAIN_CHECK(calibration_ && calibration_->has_data(), "ActivationQuantizer::freeze: nothing was observed; ",
                "run calibration batches through the model first");
  auto [lo, hi] = calibration_->range();
  min_.data<float>()[0] = lo.item();
  max_.data<float>()[0] = hi.item();
  initialized_.data<int32_t>()[0] = 1;
  calibration_.reset();
}

void ActivationQuantizer::initialize_from(const Tensor& x) {
  NoGradGuard no_grad;
  switch (algorithm_) {
    case Algorithm::pact:
      // Start the clip at the largest activation seen in the first batch.
      alpha_.data<float>()[0] = std::max(max(x).item(), 1e-3f);
      break;
    case Algorithm::lsq:
      // Esser et al.: s = 2·mean|x| / sqrt(qmax).
      step_.data<float>()[0] = std::max(2.0f * mean(abs(x)).item() / std::sqrt(static_cast<float>(scheme_.qmax())), 1e-6f);
      break;
    default: {
      MinMaxObserver first;
      first.observe(x);
      auto [lo, hi] = first.range();
      min_.data<float>()[0] = lo.item();
      max_.data<float>()[0] = hi.item();
    }
  }
  initialized_.data<int32_t>()[0] = 1;
}

QuantParams ActivationQuantizer::params() const {
  switch (algorithm_) {
    case Algorithm::pact:
      return {Tensor::full({1}, alpha_.item() / static_cast<float>((1 << bits_) - 1)), Tensor::zeros({1}, DType::i32)};
    case Algorithm::lsq:
      return {Tensor::full({1}, step_.item()), Tensor::zeros({1}, DType::i32)};
    default:
      return choose_qparams(min_, max_, scheme_);
  }
}

Tensor ActivationQuantizer::forward(const Tensor& x) {
  if (calibration_) {
    calibration_->observe(x.detach());
    return x;
  }
  const bool ready = initialized_.item<int32_t>() != 0;
  if (!ready) {
    INTRAIN_CHECK(is_training(), "ActivationQuantizer: no range yet; calibrate (PTQ) or train (QAT) before evaluating");
    initialize_from(x.detach());
  }
  switch (algorithm_) {
    case Algorithm::pact:
      return pact(x, alpha_, bits_);
    case Algorithm::lsq: {
      const int64_t per_example = x.numel() / std::max<int64_t>(1, x.size(0));
      const float grad_scale = 1.0f / std::sqrt(static_cast<float>(per_example) * static_cast<float>(scheme_.qmax()));
      return lsq_quantize(x, step_, scheme_, grad_scale);
    }
    default:
      if (is_training() && ready) {
        // Moving-average min-max, as PyTorch's QAT observers: m ← m + 0.01·(batch − m).
        MinMaxObserver batch;
        batch.observe(x.detach());
        auto [lo, hi] = batch.range();
        float* mn = min_.data<float>();
        float* mx = max_.data<float>();
        mn[0] += 0.01f * (lo.item() - mn[0]);
        mx[0] += 0.01f * (hi.item() - mx[0]);
      }
      return fake_quantize(x, params(), scheme_);
  }
}

// ---- QuantAct ------------------------------------------------------------------------------

QuantAct::QuantAct(bool relu6, std::shared_ptr<ActivationQuantizer> quantizer)
    : relu6_(relu6), quantizer_(std::move(quantizer)) {
  register_module("quant", quantizer_);
}

Tensor QuantAct::forward(const Tensor& x) {
  if (quantizer_->algorithm() == Algorithm::pact) return (*quantizer_)(x);  // PACT's clip is the activation
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
    : algorithm_(algorithm), bits_(bits), sat_quantize_(sat_quantize), followed_by_bn_(followed_by_bn) {
  scheme_ = per_channel ? QuantScheme::weight_per_channel(bits) : QuantScheme::weight_per_tensor(bits);
  scheme_.power_of_two = power_of_two;
  scheme_.validate("WeightQuantizer");
}

Tensor WeightQuantizer::make_step(const Tensor& w) const {
  if (algorithm_ != Algorithm::lsq) return Tensor();
  NoGradGuard no_grad;
  const int64_t channels = scheme_.per_channel() ? w.size(0) : 1;
  Tensor flat = abs(w.detach()).reshape({channels, -1});
  Tensor step = mul(mean(flat, {1}), 2.0f / std::sqrt(static_cast<float>(scheme_.qmax())));
  return clamp(step, 1e-8f, 1e8f).detach();
}

QuantParams WeightQuantizer::params_for(const Tensor& w) const {
  Tensor wd = w.detach();
  std::pair<Tensor, Tensor> range;
  if (scheme_.per_channel()) {
    PerChannelMinMaxObserver observer(0);
    observer.observe(wd);
    range = observer.range();
  } else {
    MinMaxObserver observer;
    observer.observe(wd);
    range = observer.range();
  }
  return choose_qparams(range.first, range.second, scheme_);
}

float WeightQuantizer::sat_scale_factor(const Tensor& w) const {
  if (followed_by_bn_) return 1.0f;
  NoGradGuard no_grad;
  Tensor q = dorefa_weight(w.detach(), bits_, sat_quantize_);
  Tensor centered = sub(q, mean(q));
  const float n = static_cast<float>(q.size(0));
  return 1.0f / std::sqrt(mean(mul(centered, centered)).item() * n + 1e-12f);
}

Tensor WeightQuantizer::apply(const Tensor& w) const {
  switch (algorithm_) {
    case Algorithm::lsq: {
      const float per_step = static_cast<float>(w.numel() / step_.numel());
      return lsq_quantize(w, step_, scheme_, 1.0f / std::sqrt(per_step * static_cast<float>(scheme_.qmax())));
    }
    case Algorithm::sat: {
      Tensor q = dorefa_weight(w, bits_, sat_quantize_);
      return followed_by_bn_ ? q : sat_scale_adjust(q);
    }
    default:
      // Symmetric min-max on the current weight: per output channel, or per tensor.
      return fake_quantize(w, params_for(w), scheme_);
  }
}

// ---- QuantConv2d ---------------------------------------------------------------------------

QuantConv2d::QuantConv2d(const nn::Conv2d& conv, WeightQuantizer weights, std::shared_ptr<nn::BatchNorm2d> bn,
                         std::shared_ptr<ActivationQuantizer> input_quantizer)
    : options_(conv.op_options()), float_repr_(conv.extra_repr()), quantizer_(std::move(weights)), bn_(std::move(bn)),
      input_quantizer_(std::move(input_quantizer)) {
  weight = register_parameter("weight", conv.weight);
  if (conv.bias.defined()) bias = register_parameter("bias", conv.bias);
  if (input_quantizer_) register_module("input_quant", input_quantizer_);
  Tensor step = quantizer_.make_step(effective_weight());
  if (step.defined()) quantizer_.set_step(register_parameter("weight_step", step));
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
  Tensor step = quantizer_.make_step(weight);
  if (step.defined()) quantizer_.set_step(register_parameter("weight_step", step));
}

std::string QuantLinear::extra_repr() const { return float_repr_ + ", w:" + quantizer_.scheme().to_string(); }

Tensor QuantLinear::forward(const Tensor& x_in) {
  Tensor x = input_quantizer_ ? (*input_quantizer_)(x_in) : x_in;
  return linear(x, quantizer_.apply(weight), bias);
}

}  // namespace intrain::quant
