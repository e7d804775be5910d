#include "core/autograd.hpp"

#include <unordered_map>
#include <unordered_set>

#include "core/ops.hpp"

namespace intrain {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }

NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

bool any_requires_grad(std::initializer_list<Tensor> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor record(Tensor output, const char* op, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!g_grad_enabled) return output;
  bool needed = false;
  for (const Tensor& t : inputs) needed = needed || (t.defined() && t.requires_grad());
  if (!needed) return output;
  auto node = std::make_shared<Node>();
  node->op = op;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  output.impl()->grad_fn = std::move(node);
  output.impl()->requires_grad = true;
  return output;
}

namespace {

// Nodes reachable from `root`, ordered so that every node comes before the nodes that
// produced its inputs. Iterative, so deep graphs cannot overflow the stack.
std::vector<Node*> reverse_topological_order(Node* root) {
  std::vector<Node*> post_order;
  std::unordered_set<Node*> visited{root};
  std::vector<std::pair<Node*, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [node, next_input] = stack.back();
    if (next_input < node->inputs.size()) {
      const Tensor& input = node->inputs[next_input++];
      if (!input.defined()) continue;
      Node* child = input.grad_fn().get();
      if (child && visited.insert(child).second) stack.emplace_back(child, 0);
    } else {
      post_order.push_back(node);
      stack.pop_back();
    }
  }
  return {post_order.rbegin(), post_order.rend()};
}

void accumulate_leaf(TensorImpl& leaf, const Tensor& grad) {
  leaf.grad = leaf.grad.defined() ? add(leaf.grad, grad) : grad.contiguous().clone();
}

}  // namespace

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  const TensorImpl& self = checked();
  INTRAIN_CHECK(self.requires_grad, "backward: the tensor does not require grad");
  Tensor seed = grad;
  if (!seed.defined()) {
    INTRAIN_CHECK(numel() == 1, "backward: an implicit gradient needs a one-element tensor, got ",
                  shape_str(shape()), "; pass the gradient explicitly");
    seed = Tensor::ones(shape());
  }
  INTRAIN_CHECK(seed.shape() == shape(), "backward: gradient shape ", shape_str(seed.shape()),
                " does not match tensor shape ", shape_str(shape()));
  NoGradGuard no_grad;
  if (!self.grad_fn) {
    accumulate_leaf(*impl_, seed);
    return;
  }
  std::unordered_map<Node*, Tensor> pending{{self.grad_fn.get(), seed}};
  for (Node* node : reverse_topological_order(self.grad_fn.get())) {
    auto found = pending.find(node);
    if (found == pending.end()) continue;  // no gradient flowed into this node
    Tensor grad_output = std::move(found->second);
    pending.erase(found);
    INTRAIN_CHECK(node->backward, "backward: the graph through '", node->op,
                  "' was already freed; call backward(grad, /*retain_graph=*/true) the first time");
    std::vector<Tensor> grads = node->backward(grad_output);
    if (!retain_graph) node->backward = nullptr;
    for (size_t i = 0; i < node->inputs.size(); ++i) {
      const Tensor& input = node->inputs[i];
      if (!input.defined() || !input.requires_grad() || i >= grads.size() || !grads[i].defined())
        continue;
      INTRAIN_CHECK(grads[i].shape() == input.shape(), "backward of '", node->op,
                    "': gradient for input ", i, " has shape ", shape_str(grads[i].shape()),
                    ", expected ", shape_str(input.shape()));
      if (Node* producer = input.grad_fn().get()) {
        auto [slot, inserted] = pending.try_emplace(producer, grads[i]);
        if (!inserted) slot->second = add(slot->second, grads[i]);
      } else {
        accumulate_leaf(*input.impl(), grads[i]);
      }
    }
  }
}

}  // namespace intrain
