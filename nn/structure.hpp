#pragma once
// The one place that decides what a model's layer groups look like, for the passes that
// treat them as a unit: inference fusing (nn/fuse.hpp), quantization's prepare and convert
// (quant/). Among one module's children (siblings in a Sequential) it finds
//   conv [batch norm] [dropout|identity]* [ReLU|ReLU6]   and   linear [dropout|identity]* [ReLU|ReLU6]
//   residual [dropout|identity]* [ReLU|ReLU6]
// A pass says what its modules are through a role function, so the quantized twins match the
// same way their float originals do.
//
//   for (size_t i = 0; i < children.size(); ++i)
//     if (auto g = nn::match_group(children, i, nn::layer_role)) { ...; i = g->last; }
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nn/module.hpp"

namespace intrain::nn {

enum class LayerRole {
  conv,         // a 2-d convolution (the only layer a batch norm folds into)
  linear,       // a fully connected layer
  batch_norm,   // a BatchNorm2d
  relu,
  relu6,
  passthrough,  // dropout or identity: the same values at inference
  residual,     // a residual block (its sum is the group's output)
  other,
};

using RoleOf = std::function<LayerRole(const Module&)>;

// The roles of nn's own layers (Conv2d, Linear, BatchNorm2d, ReLU, ReLU6, Dropout, Identity, Residual).
LayerRole layer_role(const Module& m);

struct LayerGroup {
  static constexpr size_t none = static_cast<size_t>(-1);
  LayerRole kind = LayerRole::other;  // conv, linear or residual
  size_t layer = 0;                   // the conv/linear layer or residual block
  size_t batch_norm = none;           // the batch norm right after a conv
  size_t activation = none;           // the ReLU / ReLU6 ending the group
  bool relu6 = false;
  size_t last = 0;  // the last child the group spans (the activation, batch norm or layer)
  bool has_batch_norm() const { return batch_norm != none; }
  bool has_activation() const { return activation != none; }
};

using Children = std::vector<std::pair<std::string, ModulePtr>>;

// The group that begins at children[i]; nullopt when children[i] is no conv, linear or residual.
std::optional<LayerGroup> match_group(const Children& children, size_t i, const RoleOf& role = layer_role);

}  // namespace intrain::nn
