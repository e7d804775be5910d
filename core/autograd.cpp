#include "core/autograd.hpp"

#include <unordered_map>
#include <unordered_set>

#include "core/ops.hpp"
#include "core/view_recorder.hpp"

namespace intrain {

namespace {
thread_local bool g_grad_enabled = true;
thread_local GradReadyHook g_grad_ready;
}  // namespace

GradReadyHookGuard::GradReadyHookGuard(GradReadyHook hook) : previous_(std::move(g_grad_ready)) {
  g_grad_ready = std::move(hook);
}
GradReadyHookGuard::~GradReadyHookGuard() { g_grad_ready = std::move(previous_); }

bool grad_enabled() { return g_grad_enabled; }

NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

bool any_requires_grad(std::initializer_list<Tensor> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

namespace {
// The runtime's views reach autograd through this (core/view_recorder.hpp).
Tensor record_view_node(Tensor view, const char* op, const Tensor& input, detail::ViewBackward backward) {
  return record(std::move(view), op, {input},
                [backward = std::move(backward)](const Tensor& g) { return std::vector<Tensor>{backward(g)}; });
}
}  // namespace

Tensor& Tensor::set_requires_grad(bool value) {
  checked();
  INTRAIN_CHECK(!impl_->grad_fn, "set_requires_grad: only leaf tensors can change requires_grad");
  INTRAIN_CHECK(!value || impl_->dtype == DType::f32, "set_requires_grad: only f32 tensors can ",
                "require grad, this one holds ", dtype_name(impl_->dtype));
  // Every tensor that requires grad descends from one made so here: from now on the
  // runtime's views record nodes.
  if (value) detail::install_view_recorder(&record_view_node);
  impl_->requires_grad = value;
  return *this;
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

bool is_grad_leaf(const Tensor& t) { return t.defined() && t.requires_grad() && !t.grad_fn(); }

// For the grad-ready hook: how many reads of each leaf by the nodes of this pass are still
// to run. A leaf read k times is final after the k-th.
std::unordered_map<TensorImpl*, int64_t> leaf_reads(const std::vector<Node*>& order) {
  std::unordered_map<TensorImpl*, int64_t> reads;
  for (Node* node : order)
    for (const Tensor& input : node->inputs)
      if (is_grad_leaf(input)) ++reads[input.impl()];
  return reads;
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
    if (g_grad_ready) g_grad_ready(*this);
    return;
  }
  std::unordered_map<Node*, Tensor> pending{{self.grad_fn.get(), seed}};
  const std::vector<Node*> order = reverse_topological_order(self.grad_fn.get());
  std::unordered_map<TensorImpl*, int64_t> reads_left;
  if (g_grad_ready) reads_left = leaf_reads(order);
  // After `node` has run (or was skipped): reports the leaves it read for the last time.
  auto release_leaves = [&](Node* node) {
    if (!g_grad_ready) return;
    for (const Tensor& input : node->inputs)
      if (is_grad_leaf(input) && --reads_left[input.impl()] == 0) g_grad_ready(input);
  };
  for (Node* node : order) {
    auto found = pending.find(node);
    if (found == pending.end()) {  // no gradient flowed into this node
      release_leaves(node);
      continue;
    }
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
    release_leaves(node);
  }
}

}  // namespace intrain
