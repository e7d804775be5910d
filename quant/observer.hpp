#pragma once
// Observers watch the values a tensor takes (calibration batches, or training steps) and
// pick the range that quantization parameters are computed from.
//
// Data parallelism: while an ObserverReductionScope is alive on a thread, every observer
// on it merges each batch it observes with the other processes' shares of that batch
// before updating its state, so every process holds the state one process would hold
// after observing the global batches (min-max, moving averages and histograms exactly:
// docs/distributed.md).
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "nn/cross_process.hpp"
#include "quant/scheme.hpp"

namespace intrain::quant {

// Installs `reducer` for the observers on this thread while it lives (scopes nest; the
// innermost wins). Every process must observe the same observers in the same order, one
// batch each: calibration with a padded shard per process, or training steps (not
// evaluation, whose shards may differ in length).
class ObserverReductionScope {
 public:
  explicit ObserverReductionScope(std::shared_ptr<nn::CrossProcessReducer> reducer);
  ~ObserverReductionScope();
  ObserverReductionScope(const ObserverReductionScope&) = delete;
  ObserverReductionScope& operator=(const ObserverReductionScope&) = delete;

 private:
  std::shared_ptr<nn::CrossProcessReducer> previous_;
};

// The first-batch statistics the learned quantizers start from (PACT's clip from the max,
// LSQ's step from the mean magnitude), merged over the processes under an
// ObserverReductionScope, so that every rank starts from the same value.
float global_max(const Tensor& x);
float global_mean_abs(const Tensor& x);

class Observer {
 public:
  virtual ~Observer() = default;
  virtual void observe(const Tensor& x) = 0;
  // [min, max]: one element each, or one per channel.
  virtual std::pair<Tensor, Tensor> range() const = 0;
  bool has_data() const { return seen_; }
  QuantParams params(const QuantScheme& scheme) const;

 protected:
  bool seen_ = false;
};

// Running minimum and maximum of everything seen.
class MinMaxObserver : public Observer {
 public:
  void observe(const Tensor& x) override;
  std::pair<Tensor, Tensor> range() const override;

 private:
  float min_ = 0, max_ = 0;
};

// Exponential moving average of each batch's min and max (PyTorch's default for QAT
// activations): m ← m + c·(batch − m), c = 0.01.
class MovingAverageMinMaxObserver : public Observer {
 public:
  explicit MovingAverageMinMaxObserver(float averaging_constant = 0.01f) : c_(averaging_constant) {}
  void observe(const Tensor& x) override;
  std::pair<Tensor, Tensor> range() const override;

 private:
  float c_, min_ = 0, max_ = 0;
};

// Minimum and maximum per slice along `axis` (weights: axis 0, the output channel).
class PerChannelMinMaxObserver : public Observer {
 public:
  explicit PerChannelMinMaxObserver(int64_t axis = 0) : axis_(axis) {}
  void observe(const Tensor& x) override;
  std::pair<Tensor, Tensor> range() const override;

 private:
  int64_t axis_;
  std::vector<float> min_, max_;
};

enum class HistogramMethod { percentile, mse, kl };

// A histogram of everything seen (2048 bins, re-binned as the range grows). Under an
// ObserverReductionScope the batch's range is reduced first, so every process grows and
// re-bins alike, then each bins its own values and the counts are summed: the histogram of
// the global batch, exactly. The range is chosen by
//  - percentile: the [100−p, p] percentiles (p = 99.99 by default);
//  - mse: the clipping range that minimizes the expected squared quantization error;
//  - kl: the threshold minimizing the KL divergence between the clipped distribution and its
//    quantized version (TensorRT's entropy calibration, Migacz 2017).
class HistogramObserver : public Observer {
 public:
  explicit HistogramObserver(HistogramMethod method, QuantScheme scheme, double percentile = 99.99, int bins = 2048);
  void observe(const Tensor& x) override;
  std::pair<Tensor, Tensor> range() const override;

 private:
  double bin_width() const { return (hi_ - lo_) / static_cast<double>(counts_.size()); }
  std::pair<float, float> percentile_range() const;
  std::pair<float, float> mse_range() const;
  std::pair<float, float> kl_range() const;

  HistogramMethod method_;
  QuantScheme scheme_;
  double percentile_;
  std::vector<double> counts_;
  double lo_ = 0, hi_ = 0;
};

// Parses minmax, moving_average, mse, percentile, kl; `scheme` guides the searching ones.
std::unique_ptr<Observer> make_observer(const std::string& name, const QuantScheme& scheme);

}  // namespace intrain::quant
