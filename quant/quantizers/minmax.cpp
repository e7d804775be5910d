// Min-max with the straight-through estimator: symmetric min-max weights on the current
// weight, and activations whose range follows a moving average of each training batch's
// min and max (PyTorch's QAT default; Jacob et al. 2018).
#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "quant/fake_quant.hpp"
#include "quant/observer.hpp"
#include "quant/quantizer.hpp"

namespace intrain::quant {

namespace {

class MinMaxWeights : public WeightQuantizerImpl {
 public:
  explicit MinMaxWeights(const WeightSpec& spec)
      : scheme_(spec.per_channel ? QuantScheme::weight_per_channel(spec.bits) : QuantScheme::weight_per_tensor(spec.bits)) {
    scheme_.power_of_two = spec.power_of_two;
  }
  std::string name() const override { return "minmax"; }
  QuantScheme scheme() const override { return scheme_; }
  Tensor forward(const Tensor& w) const override { return fake_quantize(w, minmax_weight_params(w, scheme_), scheme_); }
  IntegerWeights export_codes(const Tensor& w, const std::string&) const override {
    return codes_on_grid(w, minmax_weight_params(w, scheme_), scheme_);
  }

 private:
  QuantScheme scheme_;
};

class MinMaxActivations : public ActivationQuantizerImpl {
 public:
  explicit MinMaxActivations(const ActivationSpec& spec) : scheme_(minmax_activation_scheme(spec.bits, spec.non_negative)) {}
  std::string name() const override { return "minmax"; }
  QuantScheme scheme() const override { return scheme_; }

  void initialize(const Tensor& x, RangeState& range) override {
    MinMaxObserver first;
    first.observe(x);
    auto [lo, hi] = first.range();
    range.set(lo.item(), hi.item());
  }

  Tensor forward(const Tensor& x, bool training, RangeState& range) override {
    if (training) {
      // The moving average lives in the range buffers (so a checkpoint resumes it): the
      // observer starts from them (its first observation is taken as is), then averages the batch in.
      MovingAverageMinMaxObserver average;
      average.observe(Tensor::from_vector(std::vector<float>{range.min.item(), range.max.item()}, {2}));
      average.observe(x.detach());
      auto [lo, hi] = average.range();
      range.set(lo.item(), hi.item());
    }
    return fake_quantize(x, params(range), scheme_);
  }

  QuantParams params(const RangeState& range) const override { return choose_qparams(range.min, range.max, scheme_); }

 private:
  QuantScheme scheme_;
};

}  // namespace

void register_minmax_quantizer(QuantizerRegistry& registry) {
  registry.add("minmax", {[](const WeightSpec& s) { return std::make_unique<MinMaxWeights>(s); },
                          [](const ActivationSpec& s) { return std::make_unique<MinMaxActivations>(s); },
                          "min-max weights and moving-average min-max activations, straight-through gradients"});
}

}  // namespace intrain::quant
