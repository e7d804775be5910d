#include "quant/equalize.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/autograd.hpp"
#include "core/error.hpp"
#include "nn/layers.hpp"

namespace intrain::quant {

namespace {

// A leaf layer in execution order, and where it sits so it can be replaced.
struct Slot {
  nn::Module* parent;
  size_t index;
  std::string path;
  nn::Module* module;
};
using Run = std::vector<Slot>;

// Splits the model into runs of leaves that execute one after another: nested Sequentials
// continue a run; a residual block ends it, and its branches are runs of their own.
void collect_runs(nn::Module& module, const std::string& prefix, Run& run, std::vector<Run>& runs) {
  const auto& children = module.children();
  for (size_t i = 0; i < children.size(); ++i) {
    const auto& [name, child] = children[i];
    const std::string path = nn::join_path(prefix, name);
    if (dynamic_cast<nn::Sequential*>(child.get())) {
      collect_runs(*child, path, run, runs);
    } else if (dynamic_cast<nn::Residual*>(child.get()) || !child->children().empty()) {
      // A residual block, or a module whose forward we do not know: neither side may be scaled.
      runs.push_back(std::move(run));
      run.clear();
      Run inner;
      collect_runs(*child, path, inner, runs);
      runs.push_back(std::move(inner));
    } else {
      run.push_back({&module, i, path, child.get()});
    }
  }
}

std::vector<Run> runs_of(nn::Module& model) {
  std::vector<Run> runs;
  Run run;
  collect_runs(model, "", run, runs);
  runs.push_back(std::move(run));
  return runs;
}

struct Pair {
  nn::Module* first;            // Conv2d or Linear
  nn::BatchNorm2d* bn;          // after `first`, or null
  std::vector<Slot> relu6;      // the activation, when it is a ReLU6
  nn::Module* second;           // Conv2d or Linear
  int64_t features_per_channel; // Linear after a flatten: inputs per channel of `first`
  nn::BatchNorm2d* second_bn = nullptr;  // right after a Conv2d `second`, or null
  bool relu = false;            // a ReLU (not ReLU6) joins the pair
};

int64_t output_channels(nn::Module* m) {
  if (auto* c = dynamic_cast<nn::Conv2d*>(m)) return c->weight.size(0);
  return dynamic_cast<nn::Linear*>(m)->weight.size(0);
}

// conv [bn] [relu|relu6] [pool|dropout|identity]* [flatten] conv|linear, or linear [relu|relu6] linear.
std::vector<Pair> find_pairs(nn::Module& model) {
  std::vector<Pair> pairs;
  for (const Run& run : runs_of(model)) {
    for (size_t i = 0; i < run.size(); ++i) {
      nn::Module* first = run[i].module;
      const bool conv = dynamic_cast<nn::Conv2d*>(first) != nullptr;
      if (!conv && !dynamic_cast<nn::Linear*>(first)) continue;
      Pair p{first, nullptr, {}, nullptr, 1};
      size_t j = i + 1;
      if (conv && j < run.size()) {
        p.bn = dynamic_cast<nn::BatchNorm2d*>(run[j].module);
        if (p.bn) ++j;
      }
      if (p.bn && !p.bn->weight.defined()) continue;  // no γ, β to carry the scale
      if (j < run.size() && dynamic_cast<nn::ReLU*>(run[j].module)) {
        p.relu = true;
        ++j;
      } else if (j < run.size() && dynamic_cast<nn::ReLU6*>(run[j].module)) p.relu6.push_back(run[j++]);
      bool flattened = !conv;
      for (; j < run.size(); ++j) {
        nn::Module* m = run[j].module;
        if (dynamic_cast<nn::Identity*>(m) || dynamic_cast<nn::Dropout*>(m)) continue;
        if (dynamic_cast<nn::MaxPool2d*>(m) || dynamic_cast<nn::AvgPool2d*>(m) ||
            dynamic_cast<nn::AdaptiveAvgPool2d*>(m))
          continue;  // per channel, and max(x/s) = max(x)/s for s > 0
        if (dynamic_cast<nn::Flatten*>(m) && !flattened) {
          flattened = true;
          continue;
        }
        break;
      }
      if (j >= run.size()) continue;
      const int64_t channels = output_channels(first);
      if (auto* c2 = dynamic_cast<nn::Conv2d*>(run[j].module)) {
        if (flattened || c2->weight.size(1) * c2->op_options().groups != channels) continue;
      } else if (auto* l2 = dynamic_cast<nn::Linear*>(run[j].module)) {
        if (!flattened || l2->weight.size(1) % channels != 0) continue;
        p.features_per_channel = l2->weight.size(1) / channels;
      } else {
        continue;
      }
      p.second = run[j].module;
      if (j + 1 < run.size() && dynamic_cast<nn::Conv2d*>(p.second))
        p.second_bn = dynamic_cast<nn::BatchNorm2d*>(run[j + 1].module);
      pairs.push_back(std::move(p));
    }
  }
  return pairs;
}

// The positions of output channel c's weights in layer 1: one contiguous row.
float output_range(const Pair& p, int64_t c, const std::vector<float>& bn_scale) {
  const Tensor& w = dynamic_cast<nn::Conv2d*>(p.first) ? dynamic_cast<nn::Conv2d*>(p.first)->weight
                                                        : dynamic_cast<nn::Linear*>(p.first)->weight;
  const int64_t row = w.numel() / w.size(0);
  const float* pw = w.data<float>() + c * row;
  float r = 0;
  for (int64_t k = 0; k < row; ++k) r = std::max(r, std::abs(pw[k]));
  return bn_scale.empty() ? r : r * std::abs(bn_scale[static_cast<size_t>(c)]);
}

// Calls f(pointer, count) for each contiguous run of layer 2's weights that read input channel c.
template <class F>
void for_input_channel(const Pair& p, int64_t c, F&& f) {
  if (auto* conv = dynamic_cast<nn::Conv2d*>(p.second)) {
    Tensor& w = conv->weight;
    const int64_t out = w.size(0), in_per_group = w.size(1), kernel = w.size(2) * w.size(3);
    const int64_t groups = conv->op_options().groups, out_per_group = out / groups;
    const int64_t g = c / in_per_group, local = c % in_per_group;
    float* pw = w.data<float>();
    for (int64_t o = g * out_per_group; o < (g + 1) * out_per_group; ++o) f(pw + (o * in_per_group + local) * kernel, kernel);
  } else {
    Tensor& w = dynamic_cast<nn::Linear*>(p.second)->weight;
    const int64_t in = w.size(1), n = p.features_per_channel;
    float* pw = w.data<float>();
    for (int64_t o = 0; o < w.size(0); ++o) f(pw + o * in + c * n, n);
  }
}

float input_range(const Pair& p, int64_t c) {
  float r = 0;
  for_input_channel(p, c, [&](const float* w, int64_t n) {
    for (int64_t k = 0; k < n; ++k) r = std::max(r, std::abs(w[k]));
  });
  return r;
}

std::vector<float> bn_scale_of(const nn::BatchNorm2d* bn) {
  if (!bn) return {};
  return bn->eval_affine().scale;
}

// Divides output channel c of layer 1 by s: through the BN's γ and β when there is one
// (BN(x)/s = (γ/s)·x̂ + β/s), else the weight row and the bias.
void scale_output(const Pair& p, int64_t c, float s) {
  if (p.bn) {
    p.bn->weight.data<float>()[c] /= s;
    p.bn->bias.data<float>()[c] /= s;
    return;
  }
  Tensor w, b;
  if (auto* conv = dynamic_cast<nn::Conv2d*>(p.first)) w = conv->weight, b = conv->bias;
  else w = dynamic_cast<nn::Linear*>(p.first)->weight, b = dynamic_cast<nn::Linear*>(p.first)->bias;
  const int64_t row = w.numel() / w.size(0);
  float* pw = w.data<float>() + c * row;
  for (int64_t k = 0; k < row; ++k) pw[k] /= s;
  if (b.defined()) b.data<float>()[c] /= s;
}

void check_contiguous(const Pair& p) {
  for (nn::Module* m : {p.first, p.second}) {
    const Tensor& w = dynamic_cast<nn::Conv2d*>(m) ? dynamic_cast<nn::Conv2d*>(m)->weight : dynamic_cast<nn::Linear*>(m)->weight;
    INTRAIN_CHECK(w.is_contiguous(), "equalize_cross_layer: a weight is not contiguous");
  }
}

int64_t replace_relu6(const std::vector<Pair>& pairs) {
  int64_t replaced = 0;
  for (const Pair& p : pairs)
    for (const Slot& s : p.relu6) {
      s.parent->replace_child(s.index, std::make_shared<nn::ReLU>());
      ++replaced;
    }
  return replaced;
}

// d[o] = Σ_i Σ_taps W2[o, i, ·] · c_i: what layer 2's outputs lose when its input drops by c.
std::vector<double> shift_through_second(const Pair& p, const std::vector<float>& c) {
  std::vector<double> d;
  if (auto* conv = dynamic_cast<nn::Conv2d*>(p.second)) {
    const Tensor& w = conv->weight;
    const int64_t out = w.size(0), in_per_group = w.size(1), kernel = w.size(2) * w.size(3);
    const int64_t out_per_group = out / conv->op_options().groups;
    d.assign(static_cast<size_t>(out), 0.0);
    const float* pw = w.data<float>();
    for (int64_t o = 0; o < out; ++o)
      for (int64_t local = 0; local < in_per_group; ++local) {
        const float ci = c[static_cast<size_t>((o / out_per_group) * in_per_group + local)];
        if (ci == 0) continue;
        for (int64_t k = 0; k < kernel; ++k) d[static_cast<size_t>(o)] += static_cast<double>(pw[(o * in_per_group + local) * kernel + k]) * ci;
      }
  } else {
    const Tensor& w = dynamic_cast<nn::Linear*>(p.second)->weight;
    const int64_t in = w.size(1), n = p.features_per_channel;
    d.assign(static_cast<size_t>(w.size(0)), 0.0);
    const float* pw = w.data<float>();
    for (int64_t o = 0; o < w.size(0); ++o)
      for (int64_t i = 0; i < in; ++i) d[static_cast<size_t>(o)] += static_cast<double>(pw[o * in + i]) * c[static_cast<size_t>(i / n)];
  }
  return d;
}

// EqualizeOptions::absorb_bias for one pair; returns the channels absorbed.
int64_t absorb_high_bias(const Pair& p) {
  if (!p.bn || !p.relu) return 0;  // needs β, γ to bound the activation, and a ReLU to cut at 0
  Tensor second_bias;
  if (auto* conv = dynamic_cast<nn::Conv2d*>(p.second)) second_bias = conv->bias;
  else second_bias = dynamic_cast<nn::Linear*>(p.second)->bias;
  if (!second_bias.defined() && !p.second_bn) return 0;  // nowhere to put W2 · c
  const int64_t channels = output_channels(p.first);
  std::vector<float> c(static_cast<size_t>(channels), 0.0f);
  int64_t absorbed = 0;
  float* beta = p.bn->bias.data<float>();
  const float* gamma = p.bn->weight.data<float>();
  for (int64_t i = 0; i < channels; ++i) {
    const float h = beta[i] - 3.0f * std::abs(gamma[i]);
    if (h > 0) {
      c[static_cast<size_t>(i)] = h;
      beta[i] -= h;
      ++absorbed;
    }
  }
  if (absorbed == 0) return 0;
  const std::vector<double> d = shift_through_second(p, c);
  if (second_bias.defined()) {
    float* b = second_bias.data<float>();
    for (size_t o = 0; o < d.size(); ++o) b[o] = static_cast<float>(b[o] + d[o]);
  } else {  // layer 2 now gives z − d: BN2 with its running mean moved by −d gives what BN2 gave on z
    float* mean = p.second_bn->running_mean.data<float>();
    for (size_t o = 0; o < d.size(); ++o) mean[o] = static_cast<float>(mean[o] - d[o]);
  }
  return absorbed;
}

}  // namespace

int64_t replace_relu6_in_equalized_pairs(nn::Module& model) { return replace_relu6(find_pairs(model)); }

EqualizeResult equalize_cross_layer(nn::Module& model, const EqualizeOptions& options) {
  NoGradGuard no_grad;
  std::vector<Pair> pairs = find_pairs(model);
  if (!options.relu6_to_relu)
    pairs.erase(std::remove_if(pairs.begin(), pairs.end(), [](const Pair& p) { return !p.relu6.empty(); }), pairs.end());
  EqualizeResult result;
  result.pairs = static_cast<int64_t>(pairs.size());
  result.relu6_replaced = replace_relu6(pairs);
  for (const Pair& p : pairs) check_contiguous(p);
  for (result.sweeps = 0; result.sweeps < options.max_sweeps;) {
    ++result.sweeps;
    float worst = 0;  // the largest |s − 1| of this sweep
    for (const Pair& p : pairs) {
      const std::vector<float> bn_scale = bn_scale_of(p.bn);
      for (int64_t c = 0; c < output_channels(p.first); ++c) {
        const float r1 = output_range(p, c, bn_scale), r2 = input_range(p, c);
        if (!(r1 > 0) || !(r2 > 0)) continue;  // a dead channel: nothing to balance
        const float s = std::sqrt(r1 * r2) / r2;
        if (!std::isfinite(s)) continue;
        worst = std::max(worst, std::abs(s - 1.0f));
        scale_output(p, c, s);
        for_input_channel(p, c, [s](float* w, int64_t n) {
          for (int64_t k = 0; k < n; ++k) w[k] *= s;
        });
      }
    }
    if (worst < options.tolerance) break;
  }
  if (options.absorb_bias)
    for (const Pair& p : pairs) result.biases_absorbed += absorb_high_bias(p);
  return result;
}

}  // namespace intrain::quant
