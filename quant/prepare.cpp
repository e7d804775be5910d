#include "quant/prepare.hpp"

#include "core/autograd.hpp"
#include "nn/structure.hpp"
#include "nn/summary.hpp"
#include "quant/equalize.hpp"
#include "quant/modules.hpp"
#include "quant/ptq.hpp"

namespace intrain::quant {

namespace {

struct Bits {
  int weights, activations;
};

class Transformer {
 public:
  // `activation_algorithm`: the registered algorithm whose activation quantizers to insert
  // (the config's, or PTQ's calibrated ones).
  Transformer(const QuantConfig& config, std::string activation_algorithm)
      : config_(config), activation_algorithm_(std::move(activation_algorithm)), matched_(config.overrides.size(), false) {}

  void run(nn::Module& module, const std::string& prefix) {
    const auto children = module.children();  // a copy: we replace entries as we go
    for (size_t i = 0; i < children.size(); ++i) {
      const auto& [name, child] = children[i];
      const std::string path = nn::join_path(prefix, name);
      const std::optional<nn::LayerGroup> group = nn::match_group(children, i);
      if (group && group->kind == nn::LayerRole::conv) {
        auto* conv = dynamic_cast<nn::Conv2d*>(child.get());
        std::shared_ptr<nn::BatchNorm2d> bn;
        if (group->has_batch_norm()) bn = std::dynamic_pointer_cast<nn::BatchNorm2d>(children[group->batch_norm].second);
        const Bits bits = bits_for(path);
        auto q = std::make_shared<QuantConv2d>(*conv, weight_quantizer(bits.weights, bn != nullptr), bn, input_quantizer());
        module.replace_child(i, q);
        layers_.push_back({path, "conv", bits.weights});
        // A batch norm that no activation follows gets its own output quantizer: the
        // integer program carries every activation as codes.
        if (bn && !group->has_activation() && bits.activations) {
          const std::string& bn_name = children[i + 1].first;
          const std::string bn_path = nn::join_path(prefix, bn_name);
          module.replace_child(i + 1, std::make_shared<QuantBatchNorm>(bn, activation_quantizer(bits_for(bn_path), false)));
          layers_.push_back({bn_path, "activation", bits_for(bn_path).activations});
          ++i;  // the batch norm is handled
        }
      } else if (group && group->kind == nn::LayerRole::linear) {
        auto* fc = dynamic_cast<nn::Linear*>(child.get());
        const Bits bits = bits_for(path);
        auto q = std::make_shared<QuantLinear>(*fc, weight_quantizer(bits.weights, false), input_quantizer());
        module.replace_child(i, q);
        layers_.push_back({path, "linear", bits.weights});
      } else if (dynamic_cast<nn::ReLU*>(child.get()) || dynamic_cast<nn::ReLU6*>(child.get())) {
        const Bits bits = bits_for(path);
        if (bits.activations == 0) continue;
        const bool relu6 = dynamic_cast<nn::ReLU6*>(child.get()) != nullptr;
        module.replace_child(i, std::make_shared<QuantAct>(relu6, activation_quantizer(bits, true)));
        layers_.push_back({path, "activation", bits.activations});
      } else if (dynamic_cast<nn::AvgPool2d*>(child.get()) || dynamic_cast<nn::AdaptiveAvgPool2d*>(child.get())) {
        const Bits bits = bits_for(path);
        if (bits.activations == 0) continue;
        module.replace_child(i, std::make_shared<QuantAvgPool>(child, activation_quantizer(bits, false)));
        layers_.push_back({path, "avg_pool", bits.activations});
      } else if (group && group->kind == nn::LayerRole::residual) {
        auto* residual = dynamic_cast<nn::Residual*>(child.get());
        run(*child, path);  // quantize the branches first, then the sum
        const Bits bits = bits_for(path);
        if (bits.activations == 0) continue;
        // A ReLU right after the addition (ResNet) joins it: one quantizer, after the ReLU.
        auto activation = QuantResidual::Activation::none;
        if (group->has_activation())
          activation = group->relu6 ? QuantResidual::Activation::relu6 : QuantResidual::Activation::relu;
        const bool absorbs = group->has_activation();
        module.replace_child(i, std::make_shared<QuantResidual>(*residual, activation_quantizer(bits, absorbs), activation));
        layers_.push_back({path, "residual_add", bits.activations});
        if (absorbs) {
          module.replace_child(group->activation, std::make_shared<nn::Identity>());
          i = group->activation;
        }
      } else {
        run(*child, path);
      }
    }
  }

  std::vector<QuantizedLayer> finish() {
    std::string names;
    for (const QuantizedLayer& l : layers_) names += (names.empty() ? "" : ", ") + l.name;
    for (size_t k = 0; k < matched_.size(); ++k)
      INTRAIN_CHECK(matched_[k], "quantization config: layer pattern '", config_.overrides[k].pattern,
                    "' matches no layer (quantizable layers: ", names, ")");
    return layers_;
  }

 private:
  Bits bits_for(const std::string& path) {
    Bits b{config_.weight_bits, config_.activation_bits};
    for (size_t k = 0; k < config_.overrides.size(); ++k) {
      const LayerOverride& o = config_.overrides[k];
      if (!glob_match(o.pattern, path)) continue;
      matched_[k] = true;
      if (o.weight_bits) b.weights = o.weight_bits;
      if (o.activation_bits && b.activations) b.activations = o.activation_bits;
    }
    return b;
  }

  // After a ReLU the values are non-negative (unsigned levels from 0); pooled or summed
  // values may take either sign (affine levels).
  std::shared_ptr<ActivationQuantizer> activation_quantizer(const Bits& bits, bool non_negative) const {
    return std::make_shared<ActivationQuantizer>(
        make_activation_quantizer(activation_algorithm_, {bits.activations, non_negative, config_.observer}));
  }

  WeightQuantizer weight_quantizer(int bits, bool followed_by_bn) const {
    return WeightQuantizer(config_.algorithm, bits, config_.per_channel, config_.power_of_two,
                           config_.sat_quantize_weights, followed_by_bn);
  }

  // The network input is quantized once, by the first weight layer, at 8 bits.
  std::shared_ptr<ActivationQuantizer> input_quantizer() {
    if (input_done_ || config_.activation_bits == 0) return nullptr;
    input_done_ = true;
    layers_.push_back({"input", "input", 8});
    const std::string observer = config_.algorithm == Algorithm::minmax ? "minmax" : config_.observer;
    return std::make_shared<ActivationQuantizer>(make_activation_quantizer(activation_algorithm_, {8, false, observer}));
  }

  const QuantConfig& config_;
  std::string activation_algorithm_;
  std::vector<bool> matched_;
  std::vector<QuantizedLayer> layers_;
  bool input_done_ = false;
};

template <class F>
void for_each_activation_quantizer(nn::Module& model, F&& f) {
  for (auto& [name, m] : model.named_modules())
    if (auto* q = dynamic_cast<ActivationQuantizer*>(m)) f(*q);
}

std::vector<QuantizedLayer> prepare(nn::Module& model, const QuantConfig& config, const std::string& activation_algorithm) {
  config.validate();
  for (auto& [name, m] : model.named_modules())
    INTRAIN_CHECK(!dynamic_cast<QuantConv2d*>(m) && !dynamic_cast<QuantLinear*>(m),
                  "prepare: the model is already quantized (layer '", name, "')");
  if (config.cle_relu6_to_relu) replace_relu6_in_equalized_pairs(model);
  Transformer t(config, activation_algorithm);
  t.run(model, "");
  return t.finish();
}

}  // namespace

std::vector<QuantizedLayer> prepare_qat(nn::Module& model, const QuantConfig& config) {
  return prepare(model, config, config.algorithm.name());
}

std::vector<QuantizedLayer> prepare_ptq(nn::Module& model, QuantConfig config) {
  config.algorithm = Algorithm::minmax;
  auto layers = prepare(model, config, kCalibratedActivations);
  for_each_activation_quantizer(model, [](ActivationQuantizer& q) { q.start_calibration(); });
  return layers;
}

void calibrate(nn::Module& model, data::DataLoader& loader, int64_t batches) {
  LoaderBatches source(loader);
  calibrate(model, source, batches);
}

int64_t correct_bias(nn::Module& model, const Tensor& batch) {
  // Layer inputs come from the quantized model itself, so each layer is corrected for the
  // inputs it will really see.
  const auto inputs = nn::capture_inputs(model, batch);
  int64_t corrected = 0;
  for (auto& [name, m] : model.named_modules()) {
    auto found = inputs.find(name);
    if (found == inputs.end()) continue;
    if (auto* conv = dynamic_cast<QuantConv2d*>(m)) corrected += conv->correct_bias(found->second);
    if (auto* fc = dynamic_cast<QuantLinear*>(m)) corrected += fc->correct_bias(found->second);
  }
  return corrected;
}

void freeze_batch_norm(nn::Module& model) {
  for (auto& [name, m] : model.named_modules()) {
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) bn->frozen_stats = true;
    if (auto* qbn = dynamic_cast<QuantBatchNorm*>(m)) qbn->bn().frozen_stats = true;
  }
}

ModelSize model_size(nn::Module& model) {
  ModelSize size;
  for (auto& [name, m] : model.named_modules()) {
    const WeightQuantizer* wq = nullptr;
    Tensor w, b;
    if (auto* c = dynamic_cast<QuantConv2d*>(m)) {
      wq = &c->weight_quantizer();
      w = c->weight;
      b = c->bias;
    } else if (auto* l = dynamic_cast<QuantLinear*>(m)) {
      wq = &l->weight_quantizer();
      w = l->weight;
      b = l->bias;
    } else if (auto* fc = dynamic_cast<nn::Linear*>(m)) {
      w = fc->weight;
      b = fc->bias;
    } else if (auto* conv = dynamic_cast<nn::Conv2d*>(m)) {
      w = conv->weight;
      b = conv->bias;
    }
    if (!w.defined()) continue;
    const int64_t bias_elems = b.defined() ? b.numel() : w.size(0);  // a folded BN gives every channel a bias
    size.float_bytes += 4 * (w.numel() + (b.defined() ? b.numel() : 0));
    if (wq) {
      const int64_t scales = wq->scheme().per_channel() ? w.size(0) : 1;
      size.quantized_bytes += (w.numel() * wq->bits() + 7) / 8 + 4 * bias_elems + 4 * scales;
    } else {
      size.quantized_bytes += 4 * (w.numel() + (b.defined() ? b.numel() : 0));
    }
  }
  return size;
}

}  // namespace intrain::quant
