#include "nn/structure.hpp"

#include "nn/layers.hpp"

namespace intrain::nn {

LayerRole layer_role(const Module& m) {
  if (dynamic_cast<const Conv2d*>(&m)) return LayerRole::conv;
  if (dynamic_cast<const Linear*>(&m)) return LayerRole::linear;
  if (dynamic_cast<const BatchNorm2d*>(&m)) return LayerRole::batch_norm;
  if (dynamic_cast<const ReLU*>(&m)) return LayerRole::relu;
  if (dynamic_cast<const ReLU6*>(&m)) return LayerRole::relu6;
  if (dynamic_cast<const Dropout*>(&m) || dynamic_cast<const Identity*>(&m)) return LayerRole::passthrough;
  if (dynamic_cast<const Residual*>(&m)) return LayerRole::residual;
  return LayerRole::other;
}

std::optional<LayerGroup> match_group(const Children& children, size_t i, const RoleOf& role) {
  const LayerRole kind = role(*children[i].second);
  if (kind != LayerRole::conv && kind != LayerRole::linear && kind != LayerRole::residual) return std::nullopt;
  LayerGroup g;
  g.kind = kind;
  g.layer = g.last = i;
  size_t next = i + 1;
  // Only a convolution folds a batch norm, and only one directly after it.
  if (kind == LayerRole::conv && next < children.size() && role(*children[next].second) == LayerRole::batch_norm)
    g.batch_norm = g.last = next++;
  // Dropout and identity compute nothing at inference: an activation past them still ends
  // the group (they stay in place; passes skip them).
  while (next < children.size() && role(*children[next].second) == LayerRole::passthrough) ++next;
  if (next < children.size()) {
    const LayerRole act = role(*children[next].second);
    if (act == LayerRole::relu || act == LayerRole::relu6) {
      g.activation = g.last = next;
      g.relu6 = act == LayerRole::relu6;
    }
  }
  return g;
}

}  // namespace intrain::nn
