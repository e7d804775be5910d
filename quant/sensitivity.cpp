#include "quant/sensitivity.hpp"

#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "nn/layers.hpp"
#include "quant/prepare.hpp"

namespace intrain::quant {

namespace {

// Where a conv or linear layer sits: its parent and the positions of the layer and of the
// batch norm and activation prepare quantizes with it.
struct Site {
  WeightLayer layer;
  nn::Module* parent = nullptr;
  std::vector<size_t> positions;
};

bool is_activation(const nn::Module& m) {
  return dynamic_cast<const nn::ReLU*>(&m) || dynamic_cast<const nn::ReLU6*>(&m);
}

// The same walk as prepare's: every Conv2d and Linear at any depth, in registration order.
void find_sites(nn::Module& module, const std::string& prefix, std::vector<Site>& sites) {
  const auto& children = module.children();
  for (size_t i = 0; i < children.size(); ++i) {
    nn::Module& child = *children[i].second;
    const std::string path = nn::join_path(prefix, children[i].first);
    Tensor weight;
    std::string kind;
    if (auto* conv = dynamic_cast<nn::Conv2d*>(&child)) {
      weight = conv->weight;
      kind = "conv";
    } else if (auto* fc = dynamic_cast<nn::Linear*>(&child)) {
      weight = fc->weight;
      kind = "linear";
    } else {
      find_sites(child, path, sites);
      continue;
    }
    Site site{{path, kind, weight.numel(), weight.size(0)}, &module, {i}};
    // conv → BN → activation, conv → BN, conv → activation, linear → activation: the group
    // prepare gives one folded conv and one output quantizer.
    size_t next = i + 1;
    if (kind == "conv" && next < children.size() && dynamic_cast<nn::BatchNorm2d*>(children[next].second.get()))
      site.positions.push_back(next++);
    if (next < children.size() && is_activation(*children[next].second)) site.positions.push_back(next);
    sites.push_back(std::move(site));
  }
}

// Swaps one layer group of the float model for its quantized twin (prepared on its own, so
// nothing else is quantized) and puts the float modules back when it goes out of scope.
class QuantizeOneLayer {
 public:
  QuantizeOneLayer(const Site& site, const QuantConfig& config) : site_(site) {
    auto group = std::make_shared<nn::Sequential>();
    for (size_t p : site.positions) {
      originals_.push_back(site.parent->children()[p].second);
      group->add(originals_.back());
    }
    prepare_ptq(*group, config);
    for (size_t k = 0; k < site.positions.size(); ++k)
      site.parent->replace_child(site.positions[k], group->children()[k].second);
  }
  ~QuantizeOneLayer() {
    for (size_t k = 0; k < site_.positions.size(); ++k) site_.parent->replace_child(site_.positions[k], originals_[k]);
  }
  QuantizeOneLayer(const QuantizeOneLayer&) = delete;
  QuantizeOneLayer& operator=(const QuantizeOneLayer&) = delete;

 private:
  const Site& site_;
  std::vector<nn::ModulePtr> originals_;
};

struct Outputs {
  std::vector<float> logits;
  int64_t correct = 0;
};

Outputs run_all(nn::Module& model, const std::vector<data::Batch>& batches) {
  NoGradGuard no_grad;
  model.eval();
  Outputs out;
  for (const data::Batch& b : batches) {
    const Tensor y = model(b.images).contiguous();
    const auto values = y.to_vector<float>();
    out.logits.insert(out.logits.end(), values.begin(), values.end());
    if (!b.labels.defined()) continue;
    const auto predicted = argmax(y.reshape({y.size(0), -1}), 1).to_vector<int32_t>();
    const int32_t* truth = b.labels.data<int32_t>();
    for (size_t i = 0; i < predicted.size(); ++i) out.correct += predicted[i] == truth[i];
  }
  return out;
}

double sqnr_db(const std::vector<float>& reference, const std::vector<float>& approximation) {
  double signal = 0, noise = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    const double y = reference[i], e = y - approximation[i];
    signal += y * y;
    noise += e * e;
  }
  if (noise == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(std::max(signal, 1e-30) / noise);
}

}  // namespace

std::vector<WeightLayer> weight_layers(nn::Module& model) {
  std::vector<Site> sites;
  find_sites(model, "", sites);
  std::vector<WeightLayer> layers;
  for (Site& s : sites) layers.push_back(std::move(s.layer));
  return layers;
}

const LayerSensitivity* SensitivityResult::find(const std::string& name, int weight_bits) const {
  for (const LayerSensitivity& l : layers)
    if (l.name == name && l.weight_bits == weight_bits) return &l;
  return nullptr;
}

SensitivityResult layer_sensitivity(nn::Module& float_model, data::DataLoader& calibration,
                                    const std::vector<data::Batch>& evaluation, const SensitivityOptions& options) {
  INTRAIN_CHECK(!evaluation.empty(), "layer_sensitivity: no evaluation batches");
  INTRAIN_CHECK(!options.weight_bits.empty(), "layer_sensitivity: no weight bit widths to measure");
  std::vector<Site> sites;
  find_sites(float_model, "", sites);
  INTRAIN_CHECK(!sites.empty(), "layer_sensitivity: the model has no conv or linear layer");
  for (const std::string& pattern : options.layers) {
    bool matched = false;
    for (const Site& s : sites) matched = matched || glob_match(pattern, s.layer.name);
    INTRAIN_CHECK(matched, "layer_sensitivity: layer pattern '", pattern, "' matches no conv or linear layer");
  }

  SensitivityResult result;
  result.has_labels = true;
  for (const data::Batch& b : evaluation) {
    result.images += b.images.size(0);
    result.has_labels = result.has_labels && b.labels.defined();
  }
  const Outputs reference = run_all(float_model, evaluation);
  const double images = static_cast<double>(result.images);
  result.float_accuracy = result.has_labels ? static_cast<double>(reference.correct) / images : 0;

  for (const Site& site : sites) {
    bool wanted = options.layers.empty();
    for (const std::string& pattern : options.layers) wanted = wanted || glob_match(pattern, site.layer.name);
    if (!wanted) continue;
    for (int bits : options.weight_bits) {
      QuantConfig config = options.config;
      config.weight_bits = bits;
      config.activation_bits = options.activation_bits;
      config.overrides.clear();
      config.cle_relu6_to_relu = false;  // the float model is measured as it is (equalized or not)
      Outputs quantized;
      {
        const QuantizeOneLayer swap(site, config);
        calibrate(float_model, calibration, options.calibration_batches);
        quantized = run_all(float_model, evaluation);
      }
      LayerSensitivity l;
      l.name = site.layer.name;
      l.kind = site.layer.kind;
      l.weight_bits = bits;
      l.activation_bits = options.activation_bits;
      l.weights = site.layer.weights;
      if (result.has_labels) {
        l.accuracy = static_cast<double>(quantized.correct) / images;
        l.accuracy_drop = result.float_accuracy - l.accuracy;
      }
      l.output_sqnr_db = sqnr_db(reference.logits, quantized.logits);
      result.layers.push_back(l);
      if (options.on_result) options.on_result(l);
    }
  }
  return result;
}

std::vector<data::Batch> take_batches(data::DataLoader& loader, int64_t images, int64_t epoch) {
  INTRAIN_CHECK(images >= 1, "take_batches: asked for ", images, " images");
  loader.start_epoch(epoch);
  std::vector<data::Batch> batches;
  int64_t have = 0;
  data::Batch b;
  while (have < images && loader.next(b)) {
    const int64_t n = std::min(images - have, b.images.size(0));
    data::Batch part;
    part.images = b.images.narrow(0, 0, n).contiguous();
    if (b.labels.defined()) part.labels = b.labels.narrow(0, 0, n).contiguous();
    have += n;
    batches.push_back(std::move(part));
  }
  INTRAIN_CHECK(have > 0, "take_batches: the loader gave no images");
  return batches;
}

std::string format_sensitivity(const SensitivityResult& result) {
  char line[200];
  std::string out;
  if (result.has_labels) {
    std::snprintf(line, sizeof line, "float accuracy %.2f%% on %lld images; one layer quantized at a time:\n",
                  100 * result.float_accuracy, static_cast<long long>(result.images));
    out += line;
  }
  out += "layer                    kind     weights  W  A   accuracy   drop (pt)  output SQNR (dB)\n";
  for (const LayerSensitivity& l : result.layers) {
    if (result.has_labels)
      std::snprintf(line, sizeof line, "%-24s %-6s %9lld %2d %2d   %7.2f%%   %+8.2f   %9.2f\n", l.name.c_str(), l.kind.c_str(),
                    static_cast<long long>(l.weights), l.weight_bits, l.activation_bits, 100 * l.accuracy,
                    100 * l.accuracy_drop, l.output_sqnr_db);
    else
      std::snprintf(line, sizeof line, "%-24s %-6s %9lld %2d %2d          -          -   %9.2f\n", l.name.c_str(),
                    l.kind.c_str(), static_cast<long long>(l.weights), l.weight_bits, l.activation_bits, l.output_sqnr_db);
    out += line;
  }
  return out;
}

std::string sensitivity_json(const SensitivityResult& result, const std::string& model, const std::string& dataset) {
  using nlohmann::json;
  json layers = json::array();
  for (const LayerSensitivity& l : result.layers) {
    json entry = {{"name", l.name},       {"kind", l.kind},
                  {"weight_bits", l.weight_bits}, {"activation_bits", l.activation_bits},
                  {"weights", l.weights}};
    entry["accuracy"] = result.has_labels ? json(l.accuracy) : json(nullptr);
    entry["accuracy_drop"] = result.has_labels ? json(l.accuracy_drop) : json(nullptr);
    entry["output_sqnr_db"] = std::isfinite(l.output_sqnr_db) ? json(l.output_sqnr_db) : json(nullptr);
    layers.push_back(std::move(entry));
  }
  json doc = {{"model", model},
              {"dataset", dataset},
              {"float_accuracy", result.has_labels ? json(result.float_accuracy) : json(nullptr)},
              {"metric", result.has_labels ? "accuracy_drop" : "output_sqnr_db"},
              {"images", result.images},
              {"layers", std::move(layers)}};
  return doc.dump(2) + "\n";
}

SensitivityResult parse_sensitivity_json(const std::string& text, const std::string& name) {
  using nlohmann::json;
  SensitivityResult result;
  try {
    const json doc = json::parse(text);
    result.has_labels = !doc.at("float_accuracy").is_null();
    if (result.has_labels) result.float_accuracy = doc.at("float_accuracy").get<double>();
    result.images = doc.value("images", int64_t{0});
    for (const json& entry : doc.at("layers")) {
      LayerSensitivity l;
      l.name = entry.at("name").get<std::string>();
      l.kind = entry.value("kind", std::string());
      l.weight_bits = entry.at("weight_bits").get<int>();
      l.activation_bits = entry.at("activation_bits").get<int>();
      l.weights = entry.at("weights").get<int64_t>();
      INTRAIN_CHECK(l.weight_bits >= 1 && l.weight_bits <= 8 && l.weights >= 0, "'", name, "': layer '", l.name,
                    "' has ", l.weight_bits, " weight bits and ", l.weights, " weights");
      if (result.has_labels) {
        l.accuracy = entry.at("accuracy").get<double>();
        l.accuracy_drop = entry.at("accuracy_drop").get<double>();
      }
      const json& sqnr = entry.at("output_sqnr_db");
      l.output_sqnr_db = sqnr.is_null() ? std::numeric_limits<double>::infinity() : sqnr.get<double>();
      result.layers.push_back(std::move(l));
    }
  } catch (const json::exception& e) {
    throw Error("'" + name + "' is not a sensitivity table (intrain sensitivity's JSON): " + e.what());
  }
  INTRAIN_CHECK(!result.layers.empty(), "'", name, "': the sensitivity table lists no layers");
  return result;
}

}  // namespace intrain::quant
