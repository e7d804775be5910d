#include "nn/lr_schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.hpp"

namespace intrain::nn {

StepLr::StepLr(int64_t step_size, double gamma) : step_size_(step_size), gamma_(gamma) {
  INTRAIN_CHECK(step_size > 0 && gamma > 0, "StepLr: step_size and gamma must be positive");
}

double StepLr::lr(double base, int64_t epoch, int64_t, int64_t) const {
  return base * std::pow(gamma_, static_cast<double>(epoch / step_size_));
}

MultiStepLr::MultiStepLr(std::vector<int64_t> milestones, double gamma) : milestones_(std::move(milestones)), gamma_(gamma) {
  INTRAIN_CHECK(std::is_sorted(milestones_.begin(), milestones_.end()), "MultiStepLr: milestones must be increasing");
  INTRAIN_CHECK(gamma > 0, "MultiStepLr: gamma must be positive");
}

double MultiStepLr::lr(double base, int64_t epoch, int64_t, int64_t) const {
  const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), epoch) - milestones_.begin();
  return base * std::pow(gamma_, static_cast<double>(passed));
}

CosineLr::CosineLr(double total_epochs, double warmup_epochs, double min_lr)
    : total_(total_epochs), warmup_(warmup_epochs), min_lr_(min_lr) {
  INTRAIN_CHECK(total_epochs > 0 && warmup_epochs >= 0 && warmup_epochs < total_epochs && min_lr >= 0,
                "CosineLr: need 0 <= warmup < total epochs and min_lr >= 0");
}

double CosineLr::lr(double base, int64_t epoch, int64_t step, int64_t steps_per_epoch) const {
  const double t = static_cast<double>(epoch) + static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, steps_per_epoch));
  if (t < warmup_) return base * (t + 1.0 / std::max<int64_t>(1, steps_per_epoch)) / warmup_;
  const double progress = std::min(1.0, (t - warmup_) / (total_ - warmup_));
  return min_lr_ + (base - min_lr_) * 0.5 * (1 + std::cos(std::numbers::pi * progress));
}

}  // namespace intrain::nn
