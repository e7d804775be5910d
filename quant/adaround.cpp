#include "quant/adaround.hpp"

#include <cmath>
#include <numbers>

#include "core/autograd.hpp"
#include "core/error.hpp"
#include "core/generator.hpp"
#include "core/ops.hpp"
#include "core/tensor_copy.hpp"
#include "nn/layers.hpp"
#include "nn/optimizer.hpp"
#include "nn/summary.hpp"
#include "quant/modules.hpp"
#include "quant/quant_math.hpp"

namespace intrain::quant {

namespace {

constexpr float kZeta = 1.1f, kGamma = -0.1f;  // the rectified sigmoid's stretch (paper §4)

// What AdaRound needs of a quantized conv or linear layer.
struct Layer {
  QuantConv2d* conv = nullptr;
  QuantLinear* linear = nullptr;

  const WeightQuantizer& quantizer() const { return conv ? conv->weight_quantizer() : linear->weight_quantizer(); }
  Tensor weight() const { return (conv ? conv->effective_weight() : linear->weight).detach().contiguous(); }
  ActivationQuantizer* input_quantizer() const { return conv ? conv->input_quantizer() : linear->input_quantizer(); }
  Tensor apply(const Tensor& x, const Tensor& w) const { return conv ? conv2d(x, w, Tensor(), conv->conv_options()) : intrain::linear(x, w); }
  void store(const Tensor& w) const {
    if (conv) conv->set_effective_weight(w);
    else copy_into(linear->weight, w);
  }
};

// The input `name` receives, for all images, a chunk at a time (memory stays one chunk's
// worth of activations plus the one layer's inputs).
Tensor layer_input(nn::Module& model, const std::string& name, const Tensor& images, int64_t chunk) {
  Tensor all;
  for (int64_t i = 0; i < images.size(0); i += chunk) {
    const int64_t n = std::min(chunk, images.size(0) - i);
    const auto inputs = nn::capture_inputs(model, images.narrow(0, i, n).contiguous());
    auto found = inputs.find(name);
    INTRAIN_CHECK(found != inputs.end(), "adaround: layer '", name, "' is not reached by the forward pass");
    const Tensor part = found->second.contiguous();
    if (!all.defined()) {
      Shape shape = part.shape();
      shape[0] = images.size(0);
      all = Tensor::empty(shape);
    }
    copy_into(all.narrow(0, i, n), part);
  }
  return all;
}

// Σ over output channels of the squared difference, averaged over images and positions.
Tensor reconstruction_error(const Tensor& out, const Tensor& target) {
  Tensor d = sub(out, target);
  return mean(sum(mul(d, d), {1}));
}

double error_on_all(const Layer& layer, const Tensor& x, const Tensor& target, const Tensor& w, int64_t chunk) {
  NoGradGuard no_grad;
  double total = 0;
  for (int64_t i = 0; i < x.size(0); i += chunk) {
    const int64_t n = std::min(chunk, x.size(0) - i);
    total += reconstruction_error(layer.apply(x.narrow(0, i, n), w), target.narrow(0, i, n)).item() * static_cast<double>(n);
  }
  return total / static_cast<double>(x.size(0));
}

AdaRoundLayer round_layer(const std::string& name, const Layer& layer, const Tensor& x, const Tensor& target,
                          const AdaRoundOptions& o, Generator& gen) {
  const WeightQuantizer& wq = layer.quantizer();
  const QuantScheme scheme = wq.scheme();
  INTRAIN_CHECK(!wq.step().defined() && !wq.scale_free(), "adaround: layer '", name,
                "' does not use the min-max weight quantizer (prepare the model with prepare_ptq)");
  INTRAIN_CHECK(!scheme.power_of_two, "adaround: layer '", name, "' uses power-of-two weight scales, ",
                "which a rounded weight does not keep; use a preset without pow2");
  const Tensor w = layer.weight();
  const QuantParams params = wq.params_for(w);
  const int64_t out = w.size(0), numel = w.numel(), row = numel / out;
  const bool per_channel = scheme.per_channel();
  const float* pw = w.data<float>();
  const float* ps = params.scale.data<float>();
  const auto qmin = static_cast<float>(scheme.qmin()), qmax = static_cast<float>(scheme.qmax());

  // ⌊W/s⌋, V with h(V) = W/s − ⌊W/s⌋ (so the soft weight starts at W), and the weights that
  // set their channel's range: they keep their nearest level so the scale stays.
  Tensor floor_t = Tensor::empty(w.shape()), v = Tensor::empty(w.shape());
  std::vector<float> bound(per_channel ? static_cast<size_t>(out) : 1, 0.0f);
  for (int64_t e = 0; e < numel; ++e) {
    float& b = bound[per_channel ? static_cast<size_t>(e / row) : 0];
    b = std::max(b, std::abs(pw[e]));
  }
  float* pf = floor_t.data<float>();
  float* pv = v.data<float>();
  for (int64_t e = 0; e < numel; ++e) {
    const float scaled = pw[e] / ps[per_channel ? e / row : 0];
    pf[e] = std::floor(scaled);
    const float p = std::clamp((scaled - pf[e] - kGamma) / (kZeta - kGamma), 1e-4f, 1.0f - 1e-4f);
    pv[e] = std::log(p / (1.0f - p));
  }
  Shape scale_shape(static_cast<size_t>(w.dim()), 1);
  if (per_channel) scale_shape[0] = out;
  const Tensor scale = params.scale.reshape(scale_shape);
  auto soft_h = [&](const Tensor& vv) { return clamp(add(mul(sigmoid(vv), kZeta - kGamma), kGamma), 0.0f, 1.0f); };

  v.set_requires_grad(true);
  nn::Adam adam({{"v", v}}, o.learning_rate);
  const int64_t n = x.size(0), batch = std::min(o.batch_size, n);
  const auto warm = static_cast<int64_t>(o.warm_start * static_cast<float>(o.iterations));
  for (int64_t it = 0; it < o.iterations; ++it) {
    const int64_t start = static_cast<int64_t>(gen.next_u64() % static_cast<uint64_t>(n - batch + 1));
    Tensor h = soft_h(v);
    Tensor w_soft = mul(clamp(add(floor_t, h), qmin, qmax), scale);
    Tensor loss = reconstruction_error(layer.apply(x.narrow(0, start, batch), w_soft), target.narrow(0, start, batch));
    if (it >= warm) {
      // β from beta_start down to beta_end on a cosine (AIMET's schedule): early on only
      // weights far from ½ are pushed to 0 or 1, at the end all of them.
      const double progress = static_cast<double>(it - warm) / static_cast<double>(std::max<int64_t>(1, o.iterations - warm));
      const auto beta = static_cast<float>(o.beta_end + 0.5 * (o.beta_start - o.beta_end) * (1 + std::cos(std::numbers::pi * progress)));
      Tensor reg = sum(add(neg(pow(abs(add(mul(h, 2.0f), -1.0f)), beta)), 1.0f));
      loss = add(loss, mul(reg, o.regularization));
    }
    adam.zero_grad();
    loss.backward();
    adam.step();
  }

  // Hard rounding: up where h(V) ≥ ½, that is V ≥ 0.
  Tensor codes = Tensor::empty(w.shape()), w_new = Tensor::empty(w.shape()), w_nearest = Tensor::empty(w.shape());
  float* pc = codes.data<float>();
  float* pn = w_new.data<float>();
  float* pr = w_nearest.data<float>();
  AdaRoundLayer result{name, 0, 0, numel, 0};
  for (int64_t e = 0; e < numel; ++e) {
    const int64_t c = per_channel ? e / row : 0;
    const float s = ps[c];
    const float nearest = std::clamp(round_half_even(pw[e] / s), qmin, qmax);
    const bool sets_range = std::abs(pw[e]) == bound[static_cast<size_t>(c)];
    pc[e] = sets_range ? nearest : std::clamp(pf[e] + (pv[e] >= 0 ? 1.0f : 0.0f), qmin, qmax);
    result.changed += pc[e] != nearest;
    pn[e] = s * pc[e];
    pr[e] = s * nearest;
  }
  result.error_nearest = error_on_all(layer, x, target, w_nearest, o.capture_batch);
  result.error_adaround = error_on_all(layer, x, target, w_new, o.capture_batch);
  layer.store(w_new);

  // The quantizer must now reproduce exactly these codes from the stored weight.
  const Tensor stored = layer.weight();
  const Tensor requantized = quantize(stored, wq.params_for(stored), scheme);
  const int32_t* pq = requantized.data<int32_t>();
  for (int64_t e = 0; e < numel; ++e)
    INTRAIN_CHECK(static_cast<float>(pq[e]) == pc[e], "adaround: layer '", name, "': the stored weight ", e,
                  " requantizes to ", pq[e], " instead of its learned level ", pc[e]);
  return result;
}

}  // namespace

std::vector<AdaRoundLayer> adaround(nn::Module& model, nn::Module& float_model, const Tensor& images,
                                    const AdaRoundOptions& options) {
  INTRAIN_CHECK(options.iterations >= 1 && options.batch_size >= 1 && options.capture_batch >= 1,
                "adaround: iterations, batch size and capture batch must be at least 1");
  INTRAIN_CHECK(images.defined() && images.size(0) >= 1, "adaround: needs calibration images");
  std::vector<std::pair<std::string, Layer>> layers;
  for (auto& [name, m] : model.named_modules()) {
    if (auto* c = dynamic_cast<QuantConv2d*>(m)) layers.push_back({name, Layer{c, nullptr}});
    if (auto* l = dynamic_cast<QuantLinear*>(m)) layers.push_back({name, Layer{nullptr, l}});
  }
  std::map<std::string, nn::Module*> float_layers;
  for (auto& [name, m] : float_model.named_modules()) float_layers[name] = m;
  Generator gen(options.seed);
  std::vector<AdaRoundLayer> results;
  for (const auto& [name, layer] : layers) {
    auto f = float_layers.find(name);
    INTRAIN_CHECK(f != float_layers.end() && (dynamic_cast<nn::Conv2d*>(f->second) || dynamic_cast<nn::Linear*>(f->second)),
                  "adaround: the float model has no conv or linear layer '", name, "'");
    Tensor x_float = layer_input(float_model, name, images, options.capture_batch);
    Tensor target, x;
    {
      NoGradGuard no_grad;
      // The float layer's weight, BN-scaled as the quantized twin sees it (its bias and BN
      // affect both sides alike and cancel).
      target = layer.apply(x_float, layer.weight());
      if (options.quantized_inputs) {
        x = layer_input(model, name, images, options.capture_batch);
        if (layer.input_quantizer()) x = (*layer.input_quantizer())(x);
      } else {
        x = x_float;
      }
    }
    x_float = Tensor();
    results.push_back(round_layer(name, layer, x, target, options, gen));
  }
  return results;
}

}  // namespace intrain::quant
