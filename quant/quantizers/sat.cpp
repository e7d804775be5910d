// SAT, Jin et al. 2019, on DoReFa-Net weights (Zhou et al. 2016): weights normalized by tanh
// onto [−1, 1] and quantized there (or only clamped: the 'clamp only' first stage), times
// the scale adjustment 1/sqrt(n·Var(w_q)) where no batch norm follows; activations by PACT.
// The codes are the odd integers 2k − L on L = 2^bits − 1 levels, with scale 1/L.
#include <cmath>

#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "quant/fake_quant.hpp"
#include "quant/quantizer.hpp"

namespace intrain::quant {

namespace {

class SatWeights : public WeightQuantizerImpl {
 public:
  explicit SatWeights(const WeightSpec& spec)
      : bits_(spec.bits), quantize_(spec.sat_quantize), followed_by_bn_(spec.followed_by_bn),
        scheme_(spec.per_channel ? QuantScheme::weight_per_channel(spec.bits) : QuantScheme::weight_per_tensor(spec.bits)) {
    scheme_.power_of_two = spec.power_of_two;
  }
  std::string name() const override { return "sat"; }
  QuantScheme scheme() const override { return scheme_; }
  bool scale_free() const override { return true; }

  Tensor forward(const Tensor& w) const override {
    Tensor q = dorefa_weight(w, bits_, quantize_);
    return followed_by_bn_ ? q : sat_scale_adjust(q);
  }

  float output_scale(const Tensor& w) const override {
    if (followed_by_bn_) return 1.0f;
    NoGradGuard no_grad;
    Tensor q = dorefa_weight(w.detach(), bits_, quantize_);
    Tensor centered = sub(q, mean(q));
    const float n = static_cast<float>(q.size(0));
    return 1.0f / std::sqrt(mean(mul(centered, centered)).item() * n + 1e-12f);
  }

  IntegerWeights export_codes(const Tensor& w_in, const std::string& layer) const override {
    NoGradGuard no_grad;
    const int levels = (1 << bits_) - 1;
    INTRAIN_CHECK(levels <= 127, "convert: layer '", layer, "' has ", bits_, "-bit SAT weights, whose codes ",
                  "need more than int8; at most 7 bits are supported");
    Tensor w = w_in.detach().contiguous();
    Tensor codes = round_ste(mul(dorefa_weight(w, bits_), static_cast<float>(levels)));
    const float scale = output_scale(w) / static_cast<float>(levels);
    return {codes.to(DType::i8), std::vector<float>(static_cast<size_t>(w.size(0)), scale)};
  }

 private:
  int bits_;
  bool quantize_, followed_by_bn_;
  QuantScheme scheme_;
};

}  // namespace

void register_sat_quantizer(QuantizerRegistry& registry) {
  registry.add("sat", {[](const WeightSpec& s) { return std::make_unique<SatWeights>(s); },
                       [](const ActivationSpec& s) { return make_activation_quantizer("pact", s); },
                       "SAT: DoReFa-normalized weights with scale adjustment (Jin et al. 2019), PACT activations"});
}

}  // namespace intrain::quant
