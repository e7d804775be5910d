#include "nn/fuse.hpp"

#include "core/autograd.hpp"

namespace intrain::nn {

FusedConv2d::FusedConv2d(const Conv2d& conv, const BatchNorm2d::Affine& bn, kernels::ConvActivation activation)
    : options_(conv.op_options()) {
  options_.activation = activation;
  NoGradGuard no_grad;
  Tensor w = conv.weight.detach().contiguous().clone();
  const int64_t out = w.size(0), per_channel = w.numel() / out;
  float* pw = w.data<float>();
  Tensor b = Tensor::empty({out});
  float* pb = b.data<float>();
  const float* conv_bias = conv.bias.defined() ? conv.bias.contiguous().data<float>() : nullptr;
  for (int64_t c = 0; c < out; ++c) {
    const auto k = static_cast<size_t>(c);
    for (int64_t i = 0; i < per_channel; ++i) pw[c * per_channel + i] *= bn.scale[k];
    pb[c] = (conv_bias ? conv_bias[c] : 0.0f) * bn.scale[k] + bn.shift[k];
  }
  weight = register_parameter("weight", w);
  bias = register_parameter("bias", b);
}

Tensor FusedConv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, options_); }

std::string FusedConv2d::extra_repr() const {
  const char* act = options_.activation == kernels::ConvActivation::relu    ? ", relu"
                    : options_.activation == kernels::ConvActivation::relu6 ? ", relu6"
                                                                            : "";
  return std::to_string(weight.size(1) * options_.groups) + ", " + std::to_string(weight.size(0)) +
         ", kernel_size=" + std::to_string(weight.size(2)) + ", stride=" + std::to_string(options_.stride_h) +
         ", groups=" + std::to_string(options_.groups) + act;
}

int64_t fuse_for_inference(Module& module) {
  int64_t fused = 0;
  const auto children = module.children();  // a copy: entries are replaced as we go
  for (size_t i = 0; i < children.size(); ++i) {
    const auto& [name, child] = children[i];
    auto* conv = dynamic_cast<Conv2d*>(child.get());
    auto* bn = conv && i + 1 < children.size() ? dynamic_cast<BatchNorm2d*>(children[i + 1].second.get()) : nullptr;
    if (!bn) {
      fused += fuse_for_inference(*child);
      continue;
    }
    auto activation = kernels::ConvActivation::none;
    if (i + 2 < children.size()) {
      if (dynamic_cast<ReLU*>(children[i + 2].second.get())) activation = kernels::ConvActivation::relu;
      if (dynamic_cast<ReLU6*>(children[i + 2].second.get())) activation = kernels::ConvActivation::relu6;
    }
    module.replace_child(i, std::make_shared<FusedConv2d>(*conv, bn->eval_affine(), activation));
    module.replace_child(i + 1, std::make_shared<Identity>());
    if (activation != kernels::ConvActivation::none) module.replace_child(i + 2, std::make_shared<Identity>());
    i += activation != kernels::ConvActivation::none ? 2 : 1;
    ++fused;
  }
  return fused;
}

}  // namespace intrain::nn
