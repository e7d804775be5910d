#include "nn/fuse.hpp"

#include "core/autograd.hpp"
#include "nn/structure.hpp"

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
    const std::optional<LayerGroup> g = match_group(children, i);
    if (!g || g->kind != LayerRole::conv || !g->has_batch_norm()) {
      fused += fuse_for_inference(*children[i].second);
      continue;
    }
    const auto activation = !g->has_activation() ? kernels::ConvActivation::none
                            : g->relu6           ? kernels::ConvActivation::relu6
                                                 : kernels::ConvActivation::relu;
    const auto& conv = dynamic_cast<const Conv2d&>(*children[i].second);
    const auto& bn = dynamic_cast<const BatchNorm2d&>(*children[g->batch_norm].second);
    module.replace_child(i, std::make_shared<FusedConv2d>(conv, bn.eval_affine(), activation));
    module.replace_child(g->batch_norm, std::make_shared<Identity>());
    if (g->has_activation()) module.replace_child(g->activation, std::make_shared<Identity>());
    i = g->last;
    ++fused;
  }
  return fused;
}

}  // namespace intrain::nn
