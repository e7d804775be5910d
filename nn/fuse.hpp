#pragma once
// Inference-time fusion: Conv2d → BatchNorm2d (→ ReLU / ReLU6) becomes one FusedConv2d whose
// weights and bias hold the batch norm (running statistics) and whose kernel applies the
// activation (a oneDNN post-op): one pass over memory instead of three. For deployment in
// float only: the fused model computes what the eval-mode model computes, but it no longer
// trains batch norm.
//
//   model->eval();
//   nn::fuse_for_inference(*model);   // returns how many convolutions absorbed a batch norm
#include "nn/layers.hpp"

namespace intrain::nn {

class FusedConv2d : public Module {
 public:
  // y = activation(bn(conv(x))): weights and bias scaled by bn.scale, bn.shift added to the bias.
  FusedConv2d(const Conv2d& conv, const BatchNorm2d::Affine& bn, kernels::ConvActivation activation);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "FusedConv2d"; }
  std::string extra_repr() const override;

  Tensor weight, bias;

 private:
  intrain::Conv2dOptions options_;
};

int64_t fuse_for_inference(Module& model);

}  // namespace intrain::nn
