#pragma once
// Module paths as PyTorch writes them, and the nested Sequentials they describe: the
// importer names each layer it makes by a dotted path (from the weight's initializer name or
// the node's scope, "features.1.conv.0.0"), then build_tree() turns the list of paths into
// the module tree torchvision's model would have, so state_dict names come out the same.
#include <set>
#include <string>
#include <vector>

#include "nn/layers.hpp"

namespace intrain::interop {

using Segments = std::vector<std::string>;

// One layer of the chain, or a residual block, at its dotted module path.
struct Item {
  Segments path;
  nn::ModulePtr module;
};

Segments split_path(const std::string& path);
std::string join_segments(const Segments& s);
// A module path PyTorch could have written: identifiers and indices joined by dots.
bool is_module_path(const std::string& path);
std::string lower(std::string s);

// The module path in a PyTorch node name: "/features/features.1/conv/conv.0/Conv" holds
// the scopes features, features.1, conv, conv.0 (each a child's name, written as its path
// from the enclosing named scope), which make features.1.conv.0. "/Flatten" is the root
// scope: an empty path. Returns false when the name is not of that form.
bool scope_path(const std::string& node_name, Segments& out);

// `base`, or base_1, base_2, ... the first not in `used`, which it joins.
std::string unique_name_in(std::set<std::string>& used, const std::string& base);

// Items with dotted paths as nested Sequentials: consecutive items sharing their first
// segment go into one child of that name. A residual block whose path is also the prefix
// of the layers after it (ResNet's ReLU after the sum, at layer1.0.relu_1) becomes a
// transparent child of that Sequential, which is how models/resnet.cpp builds it. `used`:
// the child names already taken at this level.
std::shared_ptr<nn::Sequential> build_tree(std::vector<Item> items, std::set<std::string>& used);

}  // namespace intrain::interop
