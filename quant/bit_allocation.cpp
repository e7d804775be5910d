#include "quant/bit_allocation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/error.hpp"

namespace intrain::quant {

namespace {

// The DP's resolution: sizes are counted in steps of (range / kSteps) bytes, rounded up.
constexpr int64_t kSteps = int64_t{1} << 15;

}  // namespace

int64_t packed_weight_bytes(int64_t weights, int bits) {
  INTRAIN_CHECK(bits >= 1 && bits <= 8 && weights >= 0, "packed_weight_bytes: ", weights, " weights at ", bits, " bits");
  const int64_t per_byte = bits <= 2 ? 4 : bits <= 4 ? 2 : 1;
  return (weights + per_byte - 1) / per_byte;
}

ProgramSizeModel ProgramSizeModel::from_program(int64_t file_bytes, const std::vector<WeightLayer>& layers) {
  ProgramSizeModel model;
  int64_t codes = 0;
  for (const WeightLayer& l : layers) codes += packed_weight_bytes(l.weights, 8);
  INTRAIN_CHECK(file_bytes >= codes, "program size model: a program of ", file_bytes, " bytes cannot hold ", codes,
                " bytes of 8-bit weights");
  model.fixed_bytes = file_bytes - codes;
  return model;
}

int64_t ProgramSizeModel::layer_bytes(int64_t weights, int bits) const {
  return packed_weight_bytes(weights, bits) + (bits <= 4 ? packed_layer_bytes : 0);
}

SensitivityMetric parse_sensitivity_metric(const std::string& name) {
  if (name == "output_noise") return SensitivityMetric::output_noise;
  if (name == "accuracy_drop") return SensitivityMetric::accuracy_drop;
  throw Error("unknown sensitivity metric '" + name + "' (expected output_noise or accuracy_drop)");
}

const char* sensitivity_metric_name(SensitivityMetric metric) {
  return metric == SensitivityMetric::output_noise ? "output_noise" : "accuracy_drop";
}

std::vector<LayerBitCosts> sensitivity_costs(const SensitivityResult& result, SensitivityMetric metric) {
  INTRAIN_CHECK(metric != SensitivityMetric::accuracy_drop || result.has_labels,
                "sensitivity costs: accuracy_drop needs labelled evaluation images");
  std::vector<LayerBitCosts> layers;
  for (const LayerSensitivity& l : result.layers) {
    if (layers.empty() || layers.back().name != l.name) layers.push_back({l.name, l.weights, {}});
    const double cost = metric == SensitivityMetric::output_noise ? std::pow(10.0, -l.output_sqnr_db / 10.0)
                                                                  : std::max(0.0, l.accuracy_drop);
    layers.back().costs.emplace_back(l.weight_bits, cost);
  }
  for (LayerBitCosts& l : layers) {
    std::sort(l.costs.begin(), l.costs.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t k = 1; k < l.costs.size(); ++k) l.costs[k].second = std::max(l.costs[k].second, l.costs[k - 1].second);
  }
  return layers;
}

QuantConfig BitAllocation::apply(QuantConfig base) const {
  for (const LayerBits& l : layers) base.overrides.push_back({l.name, l.weight_bits, 0});
  return base;
}

BitAllocation allocate_bits(const std::vector<LayerBitCosts>& layers, int64_t budget_bytes, const ProgramSizeModel& size) {
  INTRAIN_CHECK(!layers.empty(), "bit allocation: no layers");
  // Each layer's candidates, most bits first (ties then keep more bits), with their bytes.
  struct Candidate {
    int bits;
    int64_t bytes;
    double cost;
  };
  std::vector<std::vector<Candidate>> options(layers.size());
  int64_t smallest = size.fixed_bytes, largest_extra = 0;
  std::vector<int64_t> least(layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    INTRAIN_CHECK(!layers[l].costs.empty(), "bit allocation: layer '", layers[l].name, "' has no candidate widths");
    for (const auto& [bits, cost] : layers[l].costs) {
      INTRAIN_CHECK(std::isfinite(cost) && cost >= 0, "bit allocation: layer '", layers[l].name, "' at ", bits,
                    " bits has cost ", cost, "; costs must be finite and non-negative");
      options[l].push_back({bits, size.layer_bytes(layers[l].weights, bits), cost});
    }
    std::stable_sort(options[l].begin(), options[l].end(), [](const Candidate& a, const Candidate& b) { return a.bits > b.bits; });
    least[l] = std::numeric_limits<int64_t>::max();
    int64_t most = 0;
    for (const Candidate& c : options[l]) {
      least[l] = std::min(least[l], c.bytes);
      most = std::max(most, c.bytes);
    }
    smallest += least[l];
    largest_extra += most - least[l];
  }
  INTRAIN_CHECK(budget_bytes >= smallest, "bit allocation: a budget of ", budget_bytes,
                " bytes is below the smallest program these layers allow, ", smallest,
                " bytes (every layer at its fewest bits); raise the budget to at least that");

  // DP over the bytes above each layer's smallest choice, in steps rounded up (so any
  // choice the DP keeps within `room` steps fits the budget exactly as well).
  const int64_t room_bytes = budget_bytes - smallest;
  const int64_t step = std::max<int64_t>(1, (largest_extra + kSteps - 1) / kSteps);
  const int64_t room = std::min(room_bytes / step, (largest_extra + step - 1) / step + static_cast<int64_t>(layers.size()));
  const size_t width = static_cast<size_t>(room) + 1;
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> best(width, 0.0), next(width);
  std::vector<uint8_t> choice(layers.size() * width, 0);
  for (size_t l = 0; l < layers.size(); ++l) {
    for (size_t s = 0; s < width; ++s) {
      double b = inf;
      uint8_t pick = 0;
      for (size_t c = 0; c < options[l].size(); ++c) {
        const auto units = static_cast<size_t>((options[l][c].bytes - least[l] + step - 1) / step);
        if (units > s) continue;
        const double total = best[s - units] + options[l][c].cost;
        if (total < b) {
          b = total;
          pick = static_cast<uint8_t>(c);
        }
      }
      next[s] = b;
      choice[l * width + s] = pick;
    }
    std::swap(best, next);
  }
  std::vector<size_t> picked(layers.size());
  int64_t extra = 0;
  for (size_t l = layers.size(), s = width - 1; l-- > 0;) {
    picked[l] = choice[l * width + s];
    const int64_t added = options[l][picked[l]].bytes - least[l];
    s -= static_cast<size_t>((added + step - 1) / step);
    extra += added;
  }
  // The rounding left bytes unused: spend them on the upgrade that saves the most cost per
  // byte, while one fits.
  for (;;) {
    double best_rate = 0;
    size_t best_layer = layers.size(), best_option = 0;
    for (size_t l = 0; l < layers.size(); ++l) {
      const Candidate& now = options[l][picked[l]];
      for (size_t c = 0; c < options[l].size(); ++c) {
        const Candidate& up = options[l][c];
        const int64_t added = up.bytes - now.bytes;
        if (up.bits <= now.bits || up.cost >= now.cost || extra + added > room_bytes) continue;
        const double rate = (now.cost - up.cost) / static_cast<double>(std::max<int64_t>(1, added));
        if (rate > best_rate) {
          best_rate = rate;
          best_layer = l;
          best_option = c;
        }
      }
    }
    if (best_layer == layers.size()) break;
    extra += options[best_layer][best_option].bytes - options[best_layer][picked[best_layer]].bytes;
    picked[best_layer] = best_option;
  }

  BitAllocation out;
  for (size_t l = 0; l < layers.size(); ++l) {
    const Candidate& c = options[l][picked[l]];
    out.layers.push_back({layers[l].name, c.bits, c.bytes, c.cost});
    out.weight_bytes += c.bytes;
    out.cost += c.cost;
  }
  out.predicted_bytes = size.fixed_bytes + out.weight_bytes;
  INTRAIN_CHECK(out.predicted_bytes <= budget_bytes, "bit allocation: internal error, ", out.predicted_bytes,
                " bytes chosen for a budget of ", budget_bytes);
  return out;
}

std::string format_allocation(const BitAllocation& allocation, int64_t budget_bytes) {
  std::string out = "layer                    W bits      bytes        cost\n";
  char line[200];
  for (const LayerBits& l : allocation.layers) {
    std::snprintf(line, sizeof line, "%-24s %6d %10lld  %10.3g\n", l.name.c_str(), l.weight_bits,
                  static_cast<long long>(l.bytes), l.cost);
    out += line;
  }
  std::snprintf(line, sizeof line, "predicted program size %lld bytes (weights %lld) for a budget of %lld; summed cost %.4g\n",
                static_cast<long long>(allocation.predicted_bytes), static_cast<long long>(allocation.weight_bytes),
                static_cast<long long>(budget_bytes), allocation.cost);
  return out + line;
}

}  // namespace intrain::quant
