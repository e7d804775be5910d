#include "nn/loss.hpp"

namespace intrain::nn {

CrossEntropyLoss::CrossEntropyLoss(float label_smoothing, Reduction reduction)
    : label_smoothing_(label_smoothing), reduction_(reduction) {
  INTRAIN_CHECK(label_smoothing >= 0.0f && label_smoothing < 1.0f,
                "CrossEntropyLoss: label_smoothing must be in [0, 1), got ", label_smoothing);
}

Tensor CrossEntropyLoss::operator()(const Tensor& logits, const Tensor& target) const {
  Tensor log_probs = log_softmax(logits, 1);
  Tensor nll = nll_loss(log_probs, target, reduction_);
  if (label_smoothing_ == 0.0f) return nll;
  Tensor smooth = neg(mean(log_probs, {1}));  // per sample: mean over classes of −log p
  if (reduction_ == Reduction::mean) smooth = mean(smooth);
  else if (reduction_ == Reduction::sum) smooth = sum(smooth);
  return add(mul(nll, 1.0f - label_smoothing_), mul(smooth, label_smoothing_));
}

}  // namespace intrain::nn
