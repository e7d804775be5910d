#pragma once
// Synchronized batch norm (PyTorch's SyncBatchNorm): in training, each channel's mean and
// variance are those of the global batch, all processes' shares together, so N processes
// of B images normalize as one process of N·B does.
//
// Forward: one reduction per layer of [Σx, Σx², count] per channel (in double, so the
// one-pass variance E[x²] − E[x]² loses nothing that matters at activation scales).
// Backward: one reduction of [Σg, Σg·x̂] per channel, because every process's input moved
// every other process's statistics. The weight and bias gradients stay local (the
// gradient averaging of data parallelism sums them), so with averaged gradients every
// process ends with the 1-process global-batch gradients.
#include <memory>

#include "core/kernels/conv.hpp"
#include "core/tensor.hpp"
#include "nn/cross_process.hpp"
#include "nn/module.hpp"

namespace intrain::nn {

// Training-mode batch norm over x [N, C, ...] with statistics reduced by `reducer`; updates
// the running statistics (unbiased variance over the global count) like batch_norm.
Tensor sync_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                       Tensor running_var, float momentum, float eps, std::shared_ptr<CrossProcessReducer> reducer,
                       kernels::ConvActivation activation = kernels::ConvActivation::none);

// Sets `reducer` on every BatchNorm2d of `model` (null: back to per-process statistics);
// returns how many layers it reached.
int64_t synchronize_batch_norm(Module& model, std::shared_ptr<CrossProcessReducer> reducer);

}  // namespace intrain::nn
