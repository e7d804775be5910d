#pragma once
// Define-by-run autograd. An op whose inputs require grad records a Node: the inputs it
// read and a function from the output's gradient to one gradient per input. backward()
// walks the nodes in reverse topological order and accumulates into the leaves' .grad.
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace intrain {

// Given the gradient of the op's output, returns the gradient for each input, in the
// order of Node::inputs. An entry may be left undefined for an input that needs none.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  std::string op;              // names the op in error messages
  std::vector<Tensor> inputs;  // what the op read; their grad_fn links the graph
  BackwardFn backward;         // released after backward() unless the graph is retained
};

// Whether ops currently record nodes (thread-local; on by default).
bool grad_enabled();

// Turns recording off for its lifetime: evaluation, optimizer steps, weight updates.
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when recording is on and any of `inputs` requires grad.
bool any_requires_grad(std::initializer_list<Tensor> inputs);

// Called by backward() on this thread as soon as a leaf's gradient is final for that pass:
// every node reading the leaf has run, so its .grad takes nothing more. Leaves the pass
// never reaches are not reported. Data parallelism starts reducing a bucket of gradients
// from here while backward still runs; with no hook installed backward does no extra work.
using GradReadyHook = std::function<void(const Tensor& leaf)>;

// Installs `hook` for this thread's backward() calls while it lives (the previous one
// returns after).
class GradReadyHookGuard {
 public:
  explicit GradReadyHookGuard(GradReadyHook hook);
  ~GradReadyHookGuard();
  GradReadyHookGuard(const GradReadyHookGuard&) = delete;
  GradReadyHookGuard& operator=(const GradReadyHookGuard&) = delete;

 private:
  GradReadyHook previous_;
};

// Attaches a node to `output` when any input requires grad (and recording is on);
// returns `output` either way. Ops call this last.
Tensor record(Tensor output, const char* op, std::vector<Tensor> inputs, BackwardFn backward);

}  // namespace intrain
