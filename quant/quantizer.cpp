#include "quant/quantizer.hpp"

#include <algorithm>

#include "core/autograd.hpp"
#include "core/error.hpp"
#include "quant/observer.hpp"

namespace intrain::quant {

void register_builtin_quantizers(QuantizerRegistry& registry);  // quant/quantizers/builtin.cpp

void RangeState::set(float lo, float hi) {
  min.data<float>()[0] = lo;
  max.data<float>()[0] = hi;
  initialized.data<int32_t>()[0] = 1;
}

void ActivationQuantizerImpl::start_calibration() {
  throw Error("the '" + name() + "' activation quantizer learns its range and does not calibrate; " +
              "prepare the model with prepare_ptq to calibrate it");
}

void ActivationQuantizerImpl::freeze(RangeState&) {
  throw Error("the '" + name() + "' activation quantizer has no calibration to freeze");
}

// ---- registry ------------------------------------------------------------------------------

void QuantizerRegistry::add(const std::string& name, QuantizerFactories factories) {
  INTRAIN_CHECK(!name.empty(), "register_quantizer: empty algorithm name");
  INTRAIN_CHECK(!contains(name), "register_quantizer: an algorithm named '", name, "' is already registered");
  INTRAIN_CHECK(factories.weight && factories.activation, "register_quantizer: algorithm '", name,
                "' needs both a weight and an activation factory");
  entries_.emplace_back(name, std::move(factories));
}

bool QuantizerRegistry::contains(const std::string& name) const {
  return std::any_of(entries_.begin(), entries_.end(), [&](const auto& e) { return e.first == name; });
}

const QuantizerFactories& QuantizerRegistry::at(const std::string& name) const {
  for (const auto& e : entries_)
    if (e.first == name) return e.second;
  throw Error("unknown quantization algorithm '" + name + "' (known: " + names_joined() + ")");
}

const std::string& QuantizerRegistry::key(const std::string& name) const {
  for (const auto& e : entries_)
    if (e.first == name) return e.first;
  at(name);  // throws
  throw Error("unreachable");
}

std::vector<std::string> QuantizerRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& e : entries_) out.push_back(e.first);
  std::sort(out.begin(), out.end());
  return out;
}

std::string QuantizerRegistry::names_joined() const {
  std::string out;
  for (const std::string& n : names()) out += (out.empty() ? "" : ", ") + n;
  return out;
}

QuantizerRegistry& quantizer_registry() {
  // Filled on first use, so no static initialization order matters; entries are never
  // removed, so the names key() hands out stay valid.
  static QuantizerRegistry registry = [] {
    QuantizerRegistry r;
    register_builtin_quantizers(r);
    return r;
  }();
  return registry;
}

void register_quantizer(const std::string& name, QuantizerFactories factories) {
  quantizer_registry().add(name, std::move(factories));
}

std::unique_ptr<WeightQuantizerImpl> make_weight_quantizer(const std::string& algorithm, const WeightSpec& spec) {
  return quantizer_registry().at(algorithm).weight(spec);
}

std::unique_ptr<ActivationQuantizerImpl> make_activation_quantizer(const std::string& algorithm,
                                                                   const ActivationSpec& spec) {
  return quantizer_registry().at(algorithm).activation(spec);
}

// ---- helpers -------------------------------------------------------------------------------

QuantParams minmax_weight_params(const Tensor& w, const QuantScheme& scheme) {
  Tensor wd = w.detach();
  std::pair<Tensor, Tensor> range;
  if (scheme.per_channel()) {
    PerChannelMinMaxObserver observer(0);
    observer.observe(wd);
    range = observer.range();
  } else {
    MinMaxObserver observer;
    observer.observe(wd);
    range = observer.range();
  }
  return choose_qparams(range.first, range.second, scheme);
}

IntegerWeights codes_on_grid(const Tensor& w_in, QuantParams params, const QuantScheme& scheme) {
  NoGradGuard no_grad;
  Tensor w = w_in.detach().contiguous();
  const int64_t out = w.size(0);
  QuantScheme per_channel = scheme;
  per_channel.axis = 0;
  params.scale = params.scale.detach().contiguous().reshape({-1});
  if (params.scale.numel() == 1) params.scale = Tensor::full({out}, params.scale.item());
  params.zero_point = Tensor::zeros({out}, DType::i32);
  return {quantize(w, params, per_channel).to(DType::i8), params.scale.to_vector<float>()};
}

QuantScheme minmax_activation_scheme(int bits, bool non_negative) {
  return non_negative ? QuantScheme::activation_unsigned(bits) : QuantScheme::activation_affine(bits);
}

}  // namespace intrain::quant
