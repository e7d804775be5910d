#pragma once
// Loss modules over logits [N, C] and i32 class targets [N].
#include "core/ops.hpp"

namespace intrain::nn {

// Cross entropy with optional label smoothing ε (Szegedy et al. 2016): the target becomes
// (1 − ε) on the true class plus ε/C spread over all classes, so
// loss = (1 − ε)·NLL + ε·mean_c(−log p_c), averaged over the batch.
class CrossEntropyLoss {
 public:
  explicit CrossEntropyLoss(float label_smoothing = 0.0f, Reduction reduction = Reduction::mean);
  Tensor operator()(const Tensor& logits, const Tensor& target) const;

 private:
  float label_smoothing_;
  Reduction reduction_;
};

class NLLLoss {
 public:
  explicit NLLLoss(Reduction reduction = Reduction::mean) : reduction_(reduction) {}
  Tensor operator()(const Tensor& log_probs, const Tensor& target) const {
    return nll_loss(log_probs, target, reduction_);
  }

 private:
  Reduction reduction_;
};

}  // namespace intrain::nn
