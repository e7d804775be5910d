#include "report/quant_histograms.hpp"

#include <algorithm>

#include "core/autograd.hpp"
#include "nn/summary.hpp"
#include "quant/modules.hpp"

namespace intrain::report {

namespace {

// The grid's ends, s·(qmin − z) and s·(qmax − z), per channel (one entry per tensor).
struct GridEnds {
  std::vector<double> lo, hi;
  double half_step = 0;  // half the largest channel step: the clipping tolerance
};
GridEnds grid_ends(const Tensor& scale, const Tensor& zero_point, const quant::QuantScheme& scheme) {
  const auto s = scale.contiguous().to_vector<float>();
  const auto z = zero_point.defined() ? zero_point.to(DType::i32).contiguous().to_vector<int32_t>() : std::vector<int32_t>{};
  GridEnds g;
  for (size_t c = 0; c < s.size(); ++c) {
    const double zc = c < z.size() ? z[c] : (z.empty() ? 0 : z[0]);
    g.lo.push_back(s[c] * (scheme.qmin() - zc));
    g.hi.push_back(s[c] * (scheme.qmax() - zc));
    g.half_step = std::max(g.half_step, 0.5 * s[c]);
  }
  return g;
}

// Per tensor: the grid's two ends. Per channel: the widest channel's ends (the extremes
// over channels) and those of the narrowest channel, whose grid is the finest.
std::vector<RangeMarker> markers_of(const GridEnds& g) {
  if (g.lo.empty()) return {};
  if (g.lo.size() == 1) return {{g.lo[0], "grid min"}, {g.hi[0], "grid max"}};
  size_t narrowest = 0;
  for (size_t c = 1; c < g.lo.size(); ++c)
    if (g.hi[c] - g.lo[c] < g.hi[narrowest] - g.lo[narrowest]) narrowest = c;
  return {{*std::min_element(g.lo.begin(), g.lo.end()), "widest channel min"},
          {*std::max_element(g.hi.begin(), g.hi.end()), "widest channel max"},
          {g.lo[narrowest], "narrowest channel min"},
          {g.hi[narrowest], "narrowest channel max"}};
}

Histogram weight_histogram(const std::string& name, const Tensor& weight, const quant::WeightQuantizer& quantizer,
                           int bins) {
  const quant::QuantScheme scheme = quantizer.scheme();
  GridEnds grid;
  std::string words = scheme.to_string();
  if (quantizer.scale_free()) {
    words += " (normalized weights: grid not in weight units)";
  } else if (quantizer.step().defined()) {  // LSQ: the learned step, zero point 0
    grid = grid_ends(quantizer.step().detach(), Tensor(), scheme);
  } else {
    const quant::QuantParams p = quantizer.params_for(weight);
    grid = grid_ends(p.scale, p.zero_point, scheme);
  }
  Histogram h = make_histogram(weight.detach().contiguous().to_vector<float>(), markers_of(grid), bins, grid.half_step);
  h.layer = name;
  h.what = "weights";
  h.scheme = words;
  return h;
}

}  // namespace

std::vector<Histogram> weight_histograms(nn::Module& model, int bins) {
  NoGradGuard no_grad;
  std::vector<Histogram> out;
  for (auto& [name, module] : model.named_modules()) {
    if (auto* conv = dynamic_cast<quant::QuantConv2d*>(module))
      out.push_back(weight_histogram(name, conv->effective_weight(), conv->weight_quantizer(), bins));
    else if (auto* linear = dynamic_cast<quant::QuantLinear*>(module))
      out.push_back(weight_histogram(name, linear->weight, linear->weight_quantizer(), bins));
  }
  return out;
}

std::vector<Histogram> activation_histograms(nn::Module& model, const Tensor& batch, int bins) {
  const auto inputs = nn::capture_inputs(model, batch);
  std::vector<Histogram> out;
  for (auto& [name, module] : model.named_modules()) {
    auto* quantizer = dynamic_cast<quant::ActivationQuantizer*>(module);
    if (!quantizer) continue;
    auto found = inputs.find(name);
    if (found == inputs.end()) continue;  // not reached on this input
    const quant::QuantParams p = quantizer->params();
    const GridEnds grid = grid_ends(p.scale, p.zero_point, quantizer->scheme());
    Histogram h = make_histogram(found->second.contiguous().to_vector<float>(), markers_of(grid), bins, grid.half_step);
    h.layer = name;
    h.what = "activations";
    h.scheme = quantizer->scheme().to_string();
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace intrain::report
