#pragma once
// The standard layers. Conv2d and Linear start from PyTorch's default initialization
// (weights and biases uniform in ±1/sqrt(fan_in)), so recipes tuned on PyTorch carry over.
#include <initializer_list>

#include "core/generator.hpp"
#include "core/ops.hpp"
#include "nn/cross_process.hpp"
#include "nn/module.hpp"

namespace intrain::nn {

struct Conv2dOptions {
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = true;
};

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, Conv2dOptions options = {},
         Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Conv2d"; }
  std::string extra_repr() const override;
  const Conv2dOptions& options() const { return options_; }
  intrain::Conv2dOptions op_options() const;

  Tensor weight;  // [out, in/groups, k, k]
  Tensor bias;    // [out] or undefined

 private:
  int64_t in_channels_, out_channels_, kernel_size_;
  Conv2dOptions options_;
};

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Linear"; }
  std::string extra_repr() const override;

  Tensor weight;  // [out, in]
  Tensor bias;    // [out] or undefined
};

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, float eps = 1e-5f, float momentum = 0.1f, bool affine = true);
  Tensor forward(const Tensor& x) override { return forward_with(x, kernels::ConvActivation::none); }
  // The normalization with a ReLU or ReLU6 after it in the same op (Sequential runs a
  // BatchNorm2d and the ReLU that follows it this way).
  Tensor forward_with(const Tensor& x, kernels::ConvActivation activation);
  std::string type_name() const override { return "BatchNorm2d"; }
  std::string extra_repr() const override;
  // Eval mode as a per-channel affine map y = scale·x + shift: scale = γ/sqrt(σ² + ε),
  // shift = β − μ·scale (running statistics), for folding into a preceding convolution.
  struct Affine {
    std::vector<float> scale, shift;
  };
  Affine eval_affine() const;

  Tensor weight, bias;               // [C], undefined without affine
  Tensor running_mean, running_var;  // buffers
  Tensor num_batches_tracked;        // buffer (i32), as PyTorch saves it
  float eps, momentum;
  // Frozen statistics: normalize with the running statistics and stop updating them even
  // in training mode (quantization-aware training freezes BN after some epochs).
  bool frozen_stats = false;
  // Data parallelism with synchronized statistics (--sync-bn): batch statistics over all
  // processes' shares of the batch, reduced by this (nn/sync_batch_norm.hpp); null (the
  // default): this process's batch alone.
  std::shared_ptr<CrossProcessReducer> statistics_reducer;
};

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return relu(x); }
  std::string type_name() const override { return "ReLU"; }
};

class ReLU6 : public Module {
 public:
  Tensor forward(const Tensor& x) override { return relu6(x); }
  std::string type_name() const override { return "ReLU6"; }
};

// The shared part of the pooling layers: their kernel, stride and padding.
class Pool2dBase : public Module {
 public:
  const Pool2dOptions& options() const { return options_; }
  std::string extra_repr() const override;

 protected:
  Pool2dBase(int64_t kernel_size, int64_t stride, int64_t padding)
      : options_(Pool2dOptions::square(kernel_size, stride, padding)) {}
  Pool2dOptions options_;
};

class MaxPool2d : public Pool2dBase {
 public:
  explicit MaxPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0)
      : Pool2dBase(kernel_size, stride, padding) {}
  Tensor forward(const Tensor& x) override { return max_pool2d(x, options_); }
  std::string type_name() const override { return "MaxPool2d"; }
};

class AvgPool2d : public Pool2dBase {
 public:
  explicit AvgPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0)
      : Pool2dBase(kernel_size, stride, padding) {}
  Tensor forward(const Tensor& x) override { return avg_pool2d(x, options_); }
  std::string type_name() const override { return "AvgPool2d"; }
};

// Global average pooling: AdaptiveAvgPool2d with output size 1.
class AdaptiveAvgPool2d : public Module {
 public:
  Tensor forward(const Tensor& x) override { return global_avg_pool2d(x); }
  std::string type_name() const override { return "AdaptiveAvgPool2d"; }
  std::string extra_repr() const override { return "output_size=1"; }
};

// Passes its input through; stands in for a layer a transform has absorbed elsewhere.
class Identity : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string type_name() const override { return "Identity"; }
};

class Flatten : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x.flatten(1); }
  std::string type_name() const override { return "Flatten"; }
};

// Draws its masks from `gen`, which must outlive the module; the default generator is the
// one training checkpoints save, so a resumed run draws the same masks.
class Dropout : public Module {
 public:
  explicit Dropout(float p = 0.5f, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override { return dropout(x, p_, is_training(), *gen_); }
  std::string type_name() const override { return "Dropout"; }
  std::string extra_repr() const override;

 private:
  float p_;
  Generator* gen_;
};

// Runs its children in order; they are named "0", "1", ... by position as in PyTorch, or by
// the name given (PyTorch's Sequential of an OrderedDict, and the top level of torchvision's
// models: "features", "classifier", "conv1", "layer1", ...).
class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<ModulePtr> modules);
  Sequential(std::initializer_list<std::pair<std::string, ModulePtr>> named_modules);
  Sequential& add(ModulePtr module);
  Sequential& add(const std::string& name, ModulePtr module);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sequential"; }
  size_t size() const { return children().size(); }
  Module& operator[](size_t i) const { return *children().at(i).second; }
};

// The names a residual block gives its branches. torchvision's MobileNetV2 calls the body
// "conv"; its ResNet BasicBlock holds the body's layers itself (an empty, transparent name)
// and calls the projection shortcut "downsample".
struct ResidualNames {
  std::string body = "body", shortcut = "shortcut";
};

// out = body(x) + shortcut(x), the shortcut being the identity when not given.
class Residual : public Module {
 public:
  explicit Residual(ModulePtr body, ModulePtr shortcut = nullptr, ResidualNames names = {});
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Residual"; }
  const ModulePtr& body() const { return body_; }
  const ModulePtr& shortcut() const { return shortcut_; }  // null: identity
  const ResidualNames& names() const { return names_; }

 private:
  ModulePtr body_, shortcut_;
  ResidualNames names_;
};

template <class M, class... Args>
std::shared_ptr<M> make(Args&&... args) {
  return std::make_shared<M>(std::forward<Args>(args)...);
}

}  // namespace intrain::nn
