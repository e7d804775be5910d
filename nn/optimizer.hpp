#pragma once
// Optimizers update parameters in place from their .grad, outside autograd. Their state
// (momentum buffers, Adam moments, step count) can be saved and restored by name, so a
// checkpoint resumes training exactly.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.hpp"

namespace intrain::nn {

using NamedParameters = std::vector<std::pair<std::string, Tensor>>;

class Optimizer {
 public:
  Optimizer(NamedParameters params, double lr);
  virtual ~Optimizer() = default;

  virtual void step() = 0;  // parameters without a gradient are skipped
  void zero_grad();
  double lr() const { return lr_; }
  void set_lr(double lr);
  int64_t steps() const { return steps_; }

  // Per-parameter state as tensors named "<parameter>.<slot>", plus "step".
  virtual std::map<std::string, Tensor> state_dict() const;
  virtual void load_state_dict(const std::map<std::string, Tensor>& state);

 protected:
  NamedParameters params_;
  std::map<std::string, std::map<std::string, Tensor>> state_;  // parameter → slot → tensor
  double lr_;
  int64_t steps_ = 0;
  // The slot tensor for a parameter, created as zeros on first use.
  Tensor& slot(const std::string& param, const std::string& name, const Tensor& like);
};

struct SgdOptions {
  double momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
  // Weight decay for particular parameters by name, in place of weight_decay (e.g. PACT's
  // clipping levels, which QuantLib's PACT-SGD decays on their own).
  std::map<std::string, double> weight_decay_by_name = {};
};

// PyTorch's SGD: g += wd·p; buf = momentum·buf + (1 − dampening)·g (buf = g at the first
// step); g = nesterov ? g + momentum·buf : buf; p −= lr·g.
class SGD : public Optimizer {
 public:
  SGD(NamedParameters params, double lr, SgdOptions options = {});
  void step() override;

 private:
  SgdOptions options_;
};

struct AdamOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled_weight_decay = false;  // AdamW
};

// Adam (Kingma & Ba 2015) with bias correction; weight decay as an L2 term in the gradient,
// or decoupled (AdamW, Loshchilov & Hutter 2019): p −= lr·wd·p before the Adam update.
class Adam : public Optimizer {
 public:
  Adam(NamedParameters params, double lr, AdamOptions options = {});
  void step() override;

 private:
  AdamOptions options_;
};

class AdamW : public Adam {
 public:
  AdamW(NamedParameters params, double lr, AdamOptions options = {.weight_decay = 0.01});
};

}  // namespace intrain::nn
