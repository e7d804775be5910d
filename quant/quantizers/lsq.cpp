// LSQ, Esser et al. 2020 ("Learned Step Size Quantization"): weights and activations on a
// learned step s (zero point 0), whose gradient is scaled by 1/sqrt(N·qmax). Weights have one
// step per output channel (or one), started at 2·mean|w|/sqrt(qmax); activations one step,
// started at 2·mean|x|/sqrt(qmax) on the first batch. Signed activations use a signed
// symmetric range, so the zero point stays 0.
#include <algorithm>
#include <cmath>

#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "quant/fake_quant.hpp"
#include "quant/observer.hpp"
#include "quant/quantizer.hpp"

namespace intrain::quant {

namespace {

class LsqWeights : public WeightQuantizerImpl {
 public:
  explicit LsqWeights(const WeightSpec& spec)
      : scheme_(spec.per_channel ? QuantScheme::weight_per_channel(spec.bits) : QuantScheme::weight_per_tensor(spec.bits)) {
    scheme_.power_of_two = spec.power_of_two;
  }
  std::string name() const override { return "lsq"; }
  QuantScheme scheme() const override { return scheme_; }

  // The checkpoint name of the step is the layer's "weight_step".
  void attach(const RegisterParameter& add, const Tensor& w) override {
    NoGradGuard no_grad;
    const int64_t channels = scheme_.per_channel() ? w.size(0) : 1;
    Tensor flat = abs(w.detach()).reshape({channels, -1});
    Tensor step = mul(mean(flat, {1}), 2.0f / std::sqrt(static_cast<float>(scheme_.qmax())));
    step_ = add("weight_step", clamp(step, 1e-8f, 1e8f).detach());
  }

  Tensor forward(const Tensor& w) const override {
    const float per_step = static_cast<float>(w.numel() / step_.numel());
    return lsq_quantize(w, step_, scheme_, 1.0f / std::sqrt(per_step * static_cast<float>(scheme_.qmax())));
  }

  IntegerWeights export_codes(const Tensor& w, const std::string&) const override {
    return codes_on_grid(w, {step_, Tensor::zeros({step_.numel()}, DType::i32)}, scheme_);
  }

  Tensor step() const override { return step_; }

 private:
  QuantScheme scheme_;
  Tensor step_;
};

class LsqActivations : public ActivationQuantizerImpl {
 public:
  explicit LsqActivations(const ActivationSpec& spec)
      : scheme_(spec.non_negative ? QuantScheme::activation_unsigned(spec.bits)
                                  : QuantScheme{spec.bits, true, true, -1, false, false}) {}
  std::string name() const override { return "lsq"; }
  QuantScheme scheme() const override { return scheme_; }
  void attach(const RegisterParameter& add) override { step_ = add("step", Tensor::full({1}, 1.0)); }

  void initialize(const Tensor& x, RangeState&) override {
    // The mean over every rank's batch under an ObserverReductionScope (distributed qat).
    step_.data<float>()[0] = std::max(2.0f * global_mean_abs(x) / std::sqrt(static_cast<float>(scheme_.qmax())), 1e-6f);
  }

  Tensor forward(const Tensor& x, bool, RangeState&) override {
    const int64_t per_example = x.numel() / std::max<int64_t>(1, x.size(0));
    const float grad_scale = 1.0f / std::sqrt(static_cast<float>(per_example) * static_cast<float>(scheme_.qmax()));
    return lsq_quantize(x, step_, scheme_, grad_scale);
  }

  QuantParams params(const RangeState&) const override {
    return {Tensor::full({1}, step_.item()), Tensor::zeros({1}, DType::i32)};
  }

 private:
  QuantScheme scheme_;
  Tensor step_;
};

}  // namespace

void register_lsq_quantizer(QuantizerRegistry& registry) {
  registry.add("lsq", {[](const WeightSpec& s) { return std::make_unique<LsqWeights>(s); },
                       [](const ActivationSpec& s) { return std::make_unique<LsqActivations>(s); },
                       "LSQ: learned step sizes for weights and activations (Esser et al. 2020)"});
}

}  // namespace intrain::quant
