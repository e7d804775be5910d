#include "nn/sync_batch_norm.hpp"

#include "core/error.hpp"
#include "core/ops.hpp"
#include "nn/layers.hpp"

namespace intrain::nn {

Tensor sync_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                       Tensor running_var, float momentum, float eps, std::shared_ptr<CrossProcessReducer> reducer,
                       kernels::ConvActivation activation) {
  INTRAIN_CHECK(reducer, "sync_batch_norm: no reducer");
  // core's batch norm does the arithmetic; the reducer only sums its statistics.
  return batch_norm(x, weight, bias, std::move(running_mean), std::move(running_var), momentum, eps,
                    [reducer](double* values, int64_t count, const char* what) { reducer->sum(values, count, what); },
                    activation);
}

int64_t synchronize_batch_norm(Module& model, std::shared_ptr<CrossProcessReducer> reducer) {
  int64_t reached = 0;
  for (auto& [name, m] : model.named_modules())
    if (auto* bn = dynamic_cast<BatchNorm2d*>(m)) {
      bn->statistics_reducer = reducer;
      ++reached;
    }
  return reached;
}

}  // namespace intrain::nn
