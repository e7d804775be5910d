#pragma once
// Learning-rate schedules: the rate as a function of the epoch (step decay) or of the
// global step (cosine with warm-up), applied by the training loop with Optimizer::set_lr.
#include <cstdint>
#include <memory>
#include <vector>

namespace intrain::nn {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  // The rate for this optimizer step, given the base rate.
  virtual double lr(double base_lr, int64_t epoch, int64_t step, int64_t steps_per_epoch) const = 0;
};

class ConstantLr : public LrSchedule {
 public:
  double lr(double base, int64_t, int64_t, int64_t) const override { return base; }
};

// base · gamma^floor(epoch / step_size)
class StepLr : public LrSchedule {
 public:
  StepLr(int64_t step_size, double gamma);
  double lr(double base, int64_t epoch, int64_t, int64_t) const override;

 private:
  int64_t step_size_;
  double gamma_;
};

// base · gamma^(number of milestones <= epoch)
class MultiStepLr : public LrSchedule {
 public:
  MultiStepLr(std::vector<int64_t> milestones, double gamma);
  double lr(double base, int64_t epoch, int64_t, int64_t) const override;

 private:
  std::vector<int64_t> milestones_;
  double gamma_;
};

// Linear warm-up from 0 over warmup_epochs, then half a cosine down to min_lr at
// total_epochs; evaluated per step so the rate moves smoothly within an epoch.
class CosineLr : public LrSchedule {
 public:
  CosineLr(double total_epochs, double warmup_epochs = 0, double min_lr = 0);
  double lr(double base, int64_t epoch, int64_t step, int64_t steps_per_epoch) const override;

 private:
  double total_, warmup_, min_lr_;
};

}  // namespace intrain::nn
