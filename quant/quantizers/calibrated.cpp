// Post-training quantization's activations: an observer (config.observer: minmax,
// moving_average, percentile, mse, kl) watches calibration batches while values pass
// through unchanged; freezing fixes the range, which then quantizes as min-max does.
// Weights are min-max's. prepare_ptq builds these; a PTQ checkpoint records "minmax",
// whose evaluation from the frozen range is the same.
#include "quant/fake_quant.hpp"
#include "quant/observer.hpp"
#include "quant/quantizer.hpp"

namespace intrain::quant {

namespace {

class CalibratedActivations : public ActivationQuantizerImpl {
 public:
  explicit CalibratedActivations(const ActivationSpec& spec)
      : scheme_(minmax_activation_scheme(spec.bits, spec.non_negative)), observer_name_(spec.observer) {}
  std::string name() const override { return kCalibratedActivations; }
  QuantScheme scheme() const override { return scheme_; }

  void start_calibration() override { observer_ = make_observer(observer_name_, scheme_); }
  bool calibrating() const override { return observer_ != nullptr; }
  void observe(const Tensor& x) override { observer_->observe(x); }
  void freeze(RangeState& range) override {
    INTRAIN_CHECK(observer_ && observer_->has_data(), "ActivationQuantizer::freeze: nothing was observed; ",
                  "run calibration batches through the model first");
    auto [lo, hi] = observer_->range();
    range.set(lo.item(), hi.item());
    observer_.reset();
  }

  void initialize(const Tensor&, RangeState&) override {
    throw Error("ActivationQuantizer: no range yet; calibrate the model (quant::calibrate) before using it");
  }
  Tensor forward(const Tensor& x, bool, RangeState& range) override { return fake_quantize(x, params(range), scheme_); }
  QuantParams params(const RangeState& range) const override { return choose_qparams(range.min, range.max, scheme_); }

 private:
  QuantScheme scheme_;
  std::string observer_name_;
  std::unique_ptr<Observer> observer_;
};

}  // namespace

void register_calibrated_quantizer(QuantizerRegistry& registry) {
  registry.add(kCalibratedActivations,
               {[](const WeightSpec& s) { return make_weight_quantizer("minmax", s); },
                [](const ActivationSpec& s) { return std::make_unique<CalibratedActivations>(s); },
                "post-training: min-max weights, activation ranges from an observer on calibration batches"});
}

}  // namespace intrain::quant
