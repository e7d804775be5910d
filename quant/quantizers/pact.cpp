// PACT, Choi et al. 2018: activations clipped at a learned α (the clip replaces the ReLU)
// and quantized on 2^bits − 1 unsigned levels of α/(2^bits − 1); weights are min-max's. A
// signed input (the network's) has no clip at 0 and falls back to min-max activations.
#include <algorithm>

#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "quant/fake_quant.hpp"
#include "quant/observer.hpp"
#include "quant/quantizer.hpp"

namespace intrain::quant {

namespace {

class PactActivations : public ActivationQuantizerImpl {
 public:
  explicit PactActivations(const ActivationSpec& spec) : bits_(spec.bits), scheme_(QuantScheme::activation_unsigned(spec.bits)) {}
  std::string name() const override { return "pact"; }
  QuantScheme scheme() const override { return scheme_; }
  void attach(const RegisterParameter& add) override { alpha_ = add("alpha", Tensor::full({1}, 1.0)); }
  // The clip starts at the largest activation of the first batch.
  void initialize(const Tensor& x, RangeState&) override { alpha_.data<float>()[0] = std::max(global_max(x), 1e-3f); }
  Tensor forward(const Tensor& x, bool, RangeState&) override { return pact(x, alpha_, bits_); }
  QuantParams params(const RangeState&) const override {
    return {Tensor::full({1}, alpha_.item() / static_cast<float>((1 << bits_) - 1)), Tensor::zeros({1}, DType::i32)};
  }
  bool replaces_relu() const override { return true; }

 private:
  int bits_;
  QuantScheme scheme_;
  Tensor alpha_;
};

std::unique_ptr<ActivationQuantizerImpl> make_pact_activations(const ActivationSpec& spec) {
  if (!spec.non_negative) return make_activation_quantizer("minmax", spec);
  return std::make_unique<PactActivations>(spec);
}

}  // namespace

void register_pact_quantizer(QuantizerRegistry& registry) {
  registry.add("pact", {[](const WeightSpec& s) { return make_weight_quantizer("minmax", s); }, make_pact_activations,
                        "PACT: learned activation clip α (Choi et al. 2018), min-max weights"});
}

}  // namespace intrain::quant
