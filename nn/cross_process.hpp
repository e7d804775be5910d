#pragma once
// Sums and maxima over the processes of a data-parallel run, for the state that must span
// the global batch rather than one process's share of it: synchronized batch-norm
// statistics (nn/sync_batch_norm.hpp) and quantization observers (quant/observer.hpp).
// nn knows no MPI; train/ implements this over its communicator and injects it.
#include <cstdint>

namespace intrain::nn {

class CrossProcessReducer {
 public:
  virtual ~CrossProcessReducer() = default;
  // In place: every process ends with the element-wise sum (or maximum) over all of them.
  // Every process must make the same calls in the same order; `what` names the call in a
  // timeout's error.
  virtual void sum(double* values, int64_t count, const char* what) = 0;
  virtual void max(double* values, int64_t count, const char* what) = 0;
};

}  // namespace intrain::nn
