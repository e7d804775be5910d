#include "nn/layers.hpp"

#include <cmath>
#include <sstream>
#include <typeinfo>

#include "nn/init.hpp"
#include "nn/summary.hpp"
#include "nn/sync_batch_norm.hpp"

namespace intrain::nn {

namespace {

template <class... Parts>
std::string repr(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

// PyTorch's reset_parameters for Conv and Linear: kaiming_uniform(a = sqrt(5)) on the
// weight, which is U(±1/sqrt(fan_in)), and the bias from the same bound.
void pytorch_default_init(Tensor& weight, Tensor* bias, Generator& gen) {
  const float bound = 1.0f / std::sqrt(static_cast<float>(init::fan_in(weight)));
  init::uniform(weight, -bound, bound, gen);
  if (bias && bias->defined()) init::uniform(*bias, -bound, bound, gen);
}

}  // namespace

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, Conv2dOptions options,
               Generator& gen)
    : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size), options_(options) {
  INTRAIN_CHECK(in_channels > 0 && out_channels > 0 && kernel_size > 0 && options.groups > 0 &&
                    in_channels % options.groups == 0 && out_channels % options.groups == 0,
                "Conv2d: invalid configuration ", in_channels, " -> ", out_channels, ", kernel ", kernel_size,
                ", groups ", options.groups);
  Tensor w = Tensor::empty({out_channels, in_channels / options.groups, kernel_size, kernel_size});
  Tensor b = options.bias ? Tensor::empty({out_channels}) : Tensor();
  pytorch_default_init(w, &b, gen);
  weight = register_parameter("weight", w);
  if (options.bias) bias = register_parameter("bias", b);
}

intrain::Conv2dOptions Conv2d::op_options() const {
  return intrain::Conv2dOptions::square(options_.stride, options_.padding, options_.dilation, options_.groups);
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, op_options()); }

std::string Conv2d::extra_repr() const {
  std::string s = repr(in_channels_, ", ", out_channels_, ", kernel_size=", kernel_size_);
  if (options_.stride != 1) s += repr(", stride=", options_.stride);
  if (options_.padding != 0) s += repr(", padding=", options_.padding);
  if (options_.dilation != 1) s += repr(", dilation=", options_.dilation);
  if (options_.groups != 1) s += repr(", groups=", options_.groups);
  if (!options_.bias) s += ", bias=false";
  return s;
}

Linear::Linear(int64_t in_features, int64_t out_features, bool with_bias, Generator& gen) {
  INTRAIN_CHECK(in_features > 0 && out_features > 0, "Linear: invalid sizes ", in_features, " -> ", out_features);
  Tensor w = Tensor::empty({out_features, in_features});
  Tensor b = with_bias ? Tensor::empty({out_features}) : Tensor();
  pytorch_default_init(w, &b, gen);
  weight = register_parameter("weight", w);
  if (with_bias) bias = register_parameter("bias", b);
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

std::string Linear::extra_repr() const {
  return repr(weight.size(1), ", ", weight.size(0), bias.defined() ? "" : ", bias=false");
}

BatchNorm2d::BatchNorm2d(int64_t channels, float eps_, float momentum_, bool affine) : eps(eps_), momentum(momentum_) {
  INTRAIN_CHECK(channels > 0, "BatchNorm2d: invalid channel count ", channels);
  if (affine) {
    weight = register_parameter("weight", Tensor::ones({channels}));
    bias = register_parameter("bias", Tensor::zeros({channels}));
  }
  running_mean = register_buffer("running_mean", Tensor::zeros({channels}));
  running_var = register_buffer("running_var", Tensor::ones({channels}));
  num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::i32));
}

BatchNorm2d::Affine BatchNorm2d::eval_affine() const {
  const auto mean = running_mean.to_vector<float>(), var = running_var.to_vector<float>();
  const auto gamma = weight.defined() ? weight.to_vector<float>() : std::vector<float>(mean.size(), 1.0f);
  const auto beta = bias.defined() ? bias.to_vector<float>() : std::vector<float>(mean.size(), 0.0f);
  Affine a{std::vector<float>(mean.size()), std::vector<float>(mean.size())};
  for (size_t c = 0; c < mean.size(); ++c) {
    a.scale[c] = gamma[c] / std::sqrt(var[c] + eps);
    a.shift[c] = beta[c] - mean[c] * a.scale[c];
  }
  return a;
}

Tensor BatchNorm2d::forward_with(const Tensor& x, kernels::ConvActivation activation) {
  INTRAIN_CHECK(x.dim() == 4, "BatchNorm2d: expects [N, C, H, W], got ", shape_str(x.shape()));
  const bool batch_statistics = is_training() && !frozen_stats;
  if (batch_statistics) ++num_batches_tracked.data<int32_t>()[0];
  if (batch_statistics && statistics_reducer)
    return sync_batch_norm(x, weight, bias, running_mean, running_var, momentum, eps, statistics_reducer, activation);
  return batch_norm(x, weight, bias, running_mean, running_var, batch_statistics, momentum, eps, activation);
}

std::string BatchNorm2d::extra_repr() const {
  return repr(running_mean.size(0), ", eps=", eps, ", momentum=", momentum, weight.defined() ? "" : ", affine=false");
}

std::string Pool2dBase::extra_repr() const {
  return repr("kernel_size=", options_.kernel_h, ", stride=", options_.stride_h ? options_.stride_h : options_.kernel_h,
              options_.pad_h ? repr(", padding=", options_.pad_h) : "");
}

Dropout::Dropout(float p, Generator& gen) : p_(p), gen_(&gen) {
  INTRAIN_CHECK(p >= 0.0f && p < 1.0f, "Dropout: probability must be in [0, 1), got ", p);
}

std::string Dropout::extra_repr() const { return repr("p=", p_); }

Sequential::Sequential(std::initializer_list<ModulePtr> modules) {
  for (const ModulePtr& m : modules) add(m);
}

Sequential::Sequential(std::initializer_list<std::pair<std::string, ModulePtr>> named_modules) {
  for (const auto& [name, m] : named_modules) add(name, m);
}

Sequential& Sequential::add(ModulePtr module) { return add(std::to_string(children().size()), std::move(module)); }

Sequential& Sequential::add(const std::string& name, ModulePtr module) {
  register_module(name, std::move(module));
  return *this;
}

namespace {

// The activation a BatchNorm2d at `i` can take into its own op: the next module's when that
// is exactly a ReLU or ReLU6 (not a subclass, nor a quantizer standing in its place).
kernels::ConvActivation fusable_activation(const std::vector<std::pair<std::string, ModulePtr>>& list, size_t i) {
  if (i + 1 >= list.size() || typeid(*list[i].second) != typeid(BatchNorm2d) || detail::recording())
    return kernels::ConvActivation::none;
  const Module& next = *list[i + 1].second;
  if (typeid(next) == typeid(ReLU)) return kernels::ConvActivation::relu;
  if (typeid(next) == typeid(ReLU6)) return kernels::ConvActivation::relu6;
  return kernels::ConvActivation::none;
}

}  // namespace

// A BatchNorm2d and the ReLU or ReLU6 after it run as one op: the same values and gradients,
// one pass over memory fewer each way and no tensor between them (unless a summary or
// capture records every module's output).
Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  const auto& list = children();
  for (size_t i = 0; i < list.size(); ++i) {
    const kernels::ConvActivation activation = fusable_activation(list, i);
    if (activation == kernels::ConvActivation::none) {
      h = (*list[i].second)(h);
      continue;
    }
    h = static_cast<BatchNorm2d&>(*list[i].second).forward_with(h, activation);
    ++i;
  }
  return h;
}

Residual::Residual(ModulePtr body, ModulePtr shortcut, ResidualNames names)
    : body_(std::move(body)), shortcut_(std::move(shortcut)), names_(std::move(names)) {
  register_module(names_.body, body_);
  if (shortcut_) register_module(names_.shortcut, shortcut_);
}

Tensor Residual::forward(const Tensor& x) {
  Tensor main = (*body_)(x);
  Tensor side = shortcut_ ? (*shortcut_)(x) : x;
  INTRAIN_CHECK(main.shape() == side.shape(), "Residual: body output ", shape_str(main.shape()),
                " and shortcut output ", shape_str(side.shape()), " differ");
  return add(main, side);
}

}  // namespace intrain::nn
