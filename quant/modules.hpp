#pragma once
// The quantized twins that prepare_qat / prepare_ptq swap into a float model. They share
// the float layers' weight tensors (so names and values carry over) and add quantizers.
#include <memory>

#include "nn/layers.hpp"
#include "quant/config.hpp"
#include "quant/observer.hpp"
#include "quant/quantizer.hpp"
#include "quant/scheme.hpp"

namespace intrain::quant {

// Quantizes activations (or the network input) with a registered algorithm's activation
// quantizer (quant/quantizer.hpp). Its range lives in buffers ("min", "max", "initialized")
// and the algorithm's parameters ("alpha" for PACT, "step" for LSQ), so a checkpoint carries
// everything evaluation needs.
class ActivationQuantizer : public nn::Module {
 public:
  // `non_negative`: the input is the output of a ReLU (unsigned levels from 0).
  ActivationQuantizer(Algorithm algorithm, int bits, bool non_negative, const std::string& observer);
  explicit ActivationQuantizer(std::unique_ptr<ActivationQuantizerImpl> impl);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ActivationQuantizer"; }
  std::string extra_repr() const override;

  // PTQ: while calibrating, values are observed and passed through unchanged; freeze()
  // then fixes the range from the observer. Only calibrating quantizers (prepare_ptq) can.
  void start_calibration();
  void freeze();
  QuantScheme scheme() const { return scheme_; }
  QuantParams params() const;  // the scale / zero point the integer program uses
  int bits() const { return scheme_.bits; }
  // The algorithm that quantizes (PACT on a signed input is min-max's, SAT's activations PACT's).
  Algorithm algorithm() const { return Algorithm(impl_->name()); }
  const ActivationQuantizerImpl& impl() const { return *impl_; }
  // The quantizer clips at 0 itself (PACT): a ReLU before it is redundant.
  bool replaces_relu() const { return impl_->replaces_relu(); }

 private:
  std::unique_ptr<ActivationQuantizerImpl> impl_;
  QuantScheme scheme_;
  RangeState range_;  // the buffers
};

// A ReLU or ReLU6 followed by its activation quantizer (PACT replaces the ReLU: its clip
// is the activation).
class QuantAct : public nn::Module {
 public:
  QuantAct(bool relu6, std::shared_ptr<ActivationQuantizer> quantizer);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return relu6_ ? "QuantReLU6" : "QuantReLU"; }
  ActivationQuantizer& quantizer() { return *quantizer_; }
  bool is_relu6() const { return relu6_; }

 private:
  bool relu6_;
  std::shared_ptr<ActivationQuantizer> quantizer_;
};

// Average pooling (AvgPool2d or global) whose output is quantized again: the mean of codes
// is generally not a code, and the integer program requantizes it.
class QuantAvgPool : public nn::Module {
 public:
  QuantAvgPool(nn::ModulePtr pool, std::shared_ptr<ActivationQuantizer> quantizer);
  Tensor forward(const Tensor& x) override { return (*quantizer_)((*pool_)(x)); }
  std::string type_name() const override { return "QuantAvgPool"; }
  const nn::ModulePtr& pool() const { return pool_; }
  ActivationQuantizer& quantizer() { return *quantizer_; }

 private:
  nn::ModulePtr pool_;
  std::shared_ptr<ActivationQuantizer> quantizer_;
};

// A BatchNorm2d whose output is quantized because no activation follows it (MobileNetV2's
// linear bottlenecks, the last BN of a residual branch). It registers the BN's own tensors
// under its own name, so state-dict names stay those of the float model.
class QuantBatchNorm : public nn::Module {
 public:
  QuantBatchNorm(std::shared_ptr<nn::BatchNorm2d> bn, std::shared_ptr<ActivationQuantizer> quantizer);
  Tensor forward(const Tensor& x) override { return (*quantizer_)((*bn_)(x)); }
  std::string type_name() const override { return "QuantBatchNorm"; }
  void train(bool on = true) override;  // the wrapped BN follows
  nn::BatchNorm2d& bn() { return *bn_; }
  ActivationQuantizer& quantizer() { return *quantizer_; }

 private:
  std::shared_ptr<nn::BatchNorm2d> bn_;
  std::shared_ptr<ActivationQuantizer> quantizer_;
};

// A residual block whose sum is quantized: out = Q(body(x) + shortcut(x)), or
// Q(relu(...)) when the block's ReLU (ResNet's post-addition activation) is absorbed.
class QuantResidual : public nn::Module {
 public:
  enum class Activation { none, relu, relu6 };
  QuantResidual(const nn::Residual& residual, std::shared_ptr<ActivationQuantizer> quantizer,
                Activation activation = Activation::none);
  Activation activation() const { return activation_; }
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "QuantResidual"; }
  const nn::ModulePtr& body() const { return body_; }
  const nn::ModulePtr& shortcut() const { return shortcut_; }
  const nn::ResidualNames& names() const { return names_; }
  ActivationQuantizer& quantizer() { return *quantizer_; }

 private:
  nn::ModulePtr body_, shortcut_;
  nn::ResidualNames names_;
  std::shared_ptr<ActivationQuantizer> quantizer_;
  Activation activation_;
};

// Quantizes a layer's weight with a registered algorithm's weight quantizer
// (quant/quantizer.hpp). Copies share the algorithm object (and so its learned state).
class WeightQuantizer {
 public:
  WeightQuantizer(Algorithm algorithm, int bits, bool per_channel, bool power_of_two, bool sat_quantize,
                  bool followed_by_bn);
  explicit WeightQuantizer(std::shared_ptr<WeightQuantizerImpl> impl);
  Tensor apply(const Tensor& w) const { return impl_->forward(w); }
  QuantScheme scheme() const { return impl_->scheme(); }
  int bits() const { return impl_->scheme().bits; }
  Algorithm algorithm() const { return Algorithm(impl_->name()); }
  const WeightQuantizerImpl& impl() const { return *impl_; }
  // Registers the algorithm's learnable tensors (LSQ's "weight_step") under the layer.
  void attach(const RegisterParameter& add, const Tensor& effective_weight) { impl_->attach(add, effective_weight); }
  // DoReFa/SAT weights are normalized (in [−1, 1] whatever the input's scale), so scaling
  // the input by the BN factor before quantizing does not carry through: the BN that
  // follows absorbs a per-channel scale at conversion instead.
  bool scale_free() const { return impl_->scale_free(); }
  // LSQ's step (undefined for other algorithms).
  Tensor step() const { return impl_->step(); }
  // Min-max parameters for the current weight (the grid min-max and PACT weights round onto).
  QuantParams params_for(const Tensor& w) const { return minmax_weight_params(w, scheme()); }
  // The integer codes and per-channel scales of `w` (the effective weight): what the
  // converter stores. `layer` names errors.
  IntegerWeights export_codes(const Tensor& w, const std::string& layer) const { return impl_->export_codes(w, layer); }

 private:
  std::shared_ptr<WeightQuantizerImpl> impl_;
};

// Conv2d with fake-quantized weights; folds a following BatchNorm2d the way PyTorch's
// ConvBn modules simulate it: the weight is scaled by γ/sqrt(running_var + ε) before
// quantization and the output unscaled after, so the BN that follows sees what the folded
// integer convolution will produce (batch statistics while training, running ones once
// frozen). Scale-free weight quantizers (SAT) skip the scaling: see WeightQuantizer.
class QuantConv2d : public nn::Module {
 public:
  QuantConv2d(const nn::Conv2d& conv, WeightQuantizer weights, std::shared_ptr<nn::BatchNorm2d> bn,
              std::shared_ptr<ActivationQuantizer> input_quantizer);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "QuantConv2d"; }
  std::string extra_repr() const override;
  const WeightQuantizer& weight_quantizer() const { return quantizer_; }
  // The weight the forward pass quantizes (BN-scaled when folding).
  Tensor effective_weight() const;
  // Stores `w` as the effective weight (the float weight becomes w / BN scale when folding):
  // how AdaRound writes back a weight that already lies on the quantization grid.
  void set_effective_weight(const Tensor& w);
  ActivationQuantizer* input_quantizer() const { return input_quantizer_.get(); }
  const intrain::Conv2dOptions& conv_options() const { return options_; }
  bool folds_batch_norm() const { return folds(); }
  // Empirical bias correction (Nagel et al. 2019): on the layer's inputs `x`, the mean
  // per-channel shift that weight quantization causes is added back to the bias — or, for
  // a conv without bias that folds a batch norm, taken off the running mean. Returns false
  // when the layer has neither to absorb it.
  bool correct_bias(const Tensor& x);

  Tensor weight, bias;

 private:
  Tensor bn_scale() const;  // γ / sqrt(running_var + ε), per output channel
  bool folds() const { return bn_ && !quantizer_.scale_free(); }
  intrain::Conv2dOptions options_;
  std::string float_repr_;
  WeightQuantizer quantizer_;
  std::shared_ptr<nn::BatchNorm2d> bn_;
  std::shared_ptr<ActivationQuantizer> input_quantizer_;
};

class QuantLinear : public nn::Module {
 public:
  QuantLinear(const nn::Linear& linear, WeightQuantizer weights, std::shared_ptr<ActivationQuantizer> input_quantizer);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "QuantLinear"; }
  std::string extra_repr() const override;
  const WeightQuantizer& weight_quantizer() const { return quantizer_; }
  ActivationQuantizer* input_quantizer() const { return input_quantizer_.get(); }
  bool correct_bias(const Tensor& x);  // as QuantConv2d::correct_bias

  Tensor weight, bias;

 private:
  std::string float_repr_;
  WeightQuantizer quantizer_;
  std::shared_ptr<ActivationQuantizer> input_quantizer_;
};

}  // namespace intrain::quant
