#include "quant/observer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "quant/quant_math.hpp"

namespace intrain::quant {

namespace {

// Minimum and maximum of n contiguous values, and whether all are finite. Sixteen
// independent lanes (min/max as `v < a ? v : a`, exactly what vector min/max compute, and
// v − v, which is 0 only for finite v) let the compiler vectorize it without fast-math:
// observers see every activation of every QAT step, so this runs at memory speed.
bool lane_min_max(const float* p, int64_t n, float& lo, float& hi) {
  constexpr int kLanes = 16;
  float l[kLanes], h[kLanes], bad[kLanes];
  for (int j = 0; j < kLanes; ++j) {
    l[j] = std::numeric_limits<float>::infinity();
    h[j] = -l[j];
    bad[j] = 0.0f;
  }
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      const float v = p[i + j];
      l[j] = v < l[j] ? v : l[j];
      h[j] = v > h[j] ? v : h[j];
      bad[j] += v - v;
    }
  for (; i < n; ++i) {
    const float v = p[i];
    l[0] = v < l[0] ? v : l[0];
    h[0] = v > h[0] ? v : h[0];
    bad[0] += v - v;
  }
  bool finite = true;
  for (int j = 0; j < kLanes; ++j) {
    lo = j == 0 ? l[0] : std::min(lo, l[j]);
    hi = j == 0 ? h[0] : std::max(hi, h[j]);
    finite = finite && bad[j] == 0.0f;
  }
  return finite;
}

void check_finite(bool finite, const float* p, int64_t n) {
  if (finite) return;
  for (int64_t i = 0; i < n; ++i)
    INTRAIN_CHECK(std::isfinite(p[i]), "observer: saw a non-finite value (", p[i], "); the model produces NaN or inf");
}

std::pair<float, float> min_max_of(const Tensor& x) {
  INTRAIN_CHECK(x.defined() && x.dtype() == DType::f32 && x.numel() > 0, "observer: expects a non-empty f32 tensor");
  Tensor c = x.contiguous();
  const float* p = c.data<float>();
  float lo, hi;
  check_finite(lane_min_max(p, c.numel(), lo, hi), p, c.numel());
  return {lo, hi};
}

std::pair<Tensor, Tensor> scalar_range(float lo, float hi) {
  return {Tensor::full({1}, lo), Tensor::full({1}, hi)};
}

// The reducer of the innermost ObserverReductionScope on this thread (null: none).
thread_local std::shared_ptr<nn::CrossProcessReducer> t_reducer;

// Element-wise minima of `lo` and maxima of `hi` over the processes, in one reduction
// (a minimum is the negated maximum of the negations; floats round-trip through doubles).
void reduce_ranges(float* lo, float* hi, size_t n) {
  if (!t_reducer) return;
  std::vector<double> v(2 * n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = -static_cast<double>(lo[i]);
    v[n + i] = hi[i];
  }
  t_reducer->max(v.data(), static_cast<int64_t>(v.size()), "observer range reduction");
  for (size_t i = 0; i < n; ++i) {
    lo[i] = static_cast<float>(-v[i]);
    hi[i] = static_cast<float>(v[n + i]);
  }
}

std::pair<float, float> global_min_max_of(const Tensor& x) {
  auto [lo, hi] = min_max_of(x);
  reduce_ranges(&lo, &hi, 1);
  return {lo, hi};
}

}  // namespace

float global_max(const Tensor& x) { return global_min_max_of(x).second; }

float global_mean_abs(const Tensor& x) {
  INTRAIN_CHECK(x.defined() && x.dtype() == DType::f32 && x.numel() > 0, "observer: expects a non-empty f32 tensor");
  Tensor c = x.contiguous();
  const float* p = c.data<float>();
  double total[2] = {0.0, static_cast<double>(c.numel())};
  for (int64_t i = 0; i < c.numel(); ++i) total[0] += std::fabs(p[i]);
  if (t_reducer) t_reducer->sum(total, 2, "LSQ step initialization");
  return static_cast<float>(total[0] / total[1]);
}

ObserverReductionScope::ObserverReductionScope(std::shared_ptr<nn::CrossProcessReducer> reducer)
    : previous_(std::move(t_reducer)) {
  t_reducer = std::move(reducer);
}

ObserverReductionScope::~ObserverReductionScope() { t_reducer = std::move(previous_); }

QuantParams Observer::params(const QuantScheme& scheme) const {
  INTRAIN_CHECK(seen_, "observer: no data observed yet; run calibration batches first");
  auto [lo, hi] = range();
  return choose_qparams(lo, hi, scheme);
}

void MinMaxObserver::observe(const Tensor& x) {
  auto [lo, hi] = global_min_max_of(x);
  min_ = seen_ ? std::min(min_, lo) : lo;
  max_ = seen_ ? std::max(max_, hi) : hi;
  seen_ = true;
}
std::pair<Tensor, Tensor> MinMaxObserver::range() const { return scalar_range(min_, max_); }

void MovingAverageMinMaxObserver::observe(const Tensor& x) {
  auto [lo, hi] = global_min_max_of(x);
  min_ = seen_ ? min_ + c_ * (lo - min_) : lo;
  max_ = seen_ ? max_ + c_ * (hi - max_) : hi;
  seen_ = true;
}
std::pair<Tensor, Tensor> MovingAverageMinMaxObserver::range() const { return scalar_range(min_, max_); }

void PerChannelMinMaxObserver::observe(const Tensor& x_in) {
  INTRAIN_CHECK(axis_ < x_in.dim(), "PerChannelMinMaxObserver: axis ", axis_, " does not exist in shape ",
                shape_str(x_in.shape()));
  Tensor x = x_in.contiguous();
  const int64_t channels = x.size(axis_);
  int64_t inner = 1;
  for (int64_t d = axis_ + 1; d < x.dim(); ++d) inner *= x.size(d);
  INTRAIN_CHECK(!seen_ || static_cast<int64_t>(min_.size()) == channels, "PerChannelMinMaxObserver: ", channels,
                " channels now, ", min_.size(), " before");
  // The batch's own range first, so that one reduction merges it over the processes.
  std::vector<float> lo(static_cast<size_t>(channels), std::numeric_limits<float>::infinity());
  std::vector<float> hi(static_cast<size_t>(channels), -std::numeric_limits<float>::infinity());
  // Runs of `inner` contiguous values share a channel: found by loop structure, not per element.
  const float* p = x.data<float>();
  const int64_t outer = inner * channels == 0 ? 0 : x.numel() / (inner * channels);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c) {
      const float* run = p + (o * channels + c) * inner;
      float run_lo, run_hi;
      if (inner == 0) continue;
      check_finite(lane_min_max(run, inner, run_lo, run_hi), run, inner);
      lo[static_cast<size_t>(c)] = std::min(lo[static_cast<size_t>(c)], run_lo);
      hi[static_cast<size_t>(c)] = std::max(hi[static_cast<size_t>(c)], run_hi);
    }
  reduce_ranges(lo.data(), hi.data(), lo.size());
  if (!seen_) {
    min_ = std::move(lo);
    max_ = std::move(hi);
  } else {
    for (size_t c = 0; c < min_.size(); ++c) {
      min_[c] = std::min(min_[c], lo[c]);
      max_[c] = std::max(max_[c], hi[c]);
    }
  }
  seen_ = true;
}

std::pair<Tensor, Tensor> PerChannelMinMaxObserver::range() const {
  const auto n = static_cast<int64_t>(min_.size());
  return {Tensor::from_vector(min_, {n}), Tensor::from_vector(max_, {n})};
}

HistogramObserver::HistogramObserver(HistogramMethod method, QuantScheme scheme, double percentile, int bins)
    : method_(method), scheme_(scheme), percentile_(percentile), counts_(static_cast<size_t>(bins), 0.0) {
  INTRAIN_CHECK(bins >= 16, "HistogramObserver: needs at least 16 bins");
  INTRAIN_CHECK(percentile > 50 && percentile <= 100, "HistogramObserver: percentile must be in (50, 100]");
  scheme_.validate("HistogramObserver");
}

void HistogramObserver::observe(const Tensor& x_in) {
  auto [lo, hi] = global_min_max_of(x_in);
  if (!seen_ || lo < lo_ || hi > hi_) {
    // Grow the range (always keeping 0 inside) and re-bin the old counts into it.
    const double new_lo = std::min<double>(seen_ ? lo_ : 0.0, lo), new_hi = std::max<double>(seen_ ? hi_ : 0.0, hi);
    const double span = std::max(new_hi - new_lo, 1e-12);
    std::vector<double> rebinned(counts_.size(), 0.0);
    if (seen_) {
      const double old_width = bin_width();
      for (size_t b = 0; b < counts_.size(); ++b) {
        const double center = lo_ + (static_cast<double>(b) + 0.5) * old_width;
        auto nb = static_cast<size_t>(std::clamp((center - new_lo) / span * static_cast<double>(counts_.size()), 0.0,
                                                 static_cast<double>(counts_.size() - 1)));
        rebinned[nb] += counts_[b];
      }
    }
    counts_ = std::move(rebinned);
    lo_ = new_lo;
    hi_ = new_lo + span;
  }
  Tensor x = x_in.contiguous();
  const float* p = x.data<float>();
  const double scale = static_cast<double>(counts_.size()) / (hi_ - lo_);
  // This batch's counts on their own, summed over the processes (whole numbers in doubles:
  // exact), then added: every process's histogram is the global batches'.
  std::vector<double> batch(counts_.size(), 0.0);
  for (int64_t i = 0, i_end = x.numel(); i < i_end; ++i) {
    auto b = static_cast<size_t>(std::clamp((p[i] - lo_) * scale, 0.0, static_cast<double>(counts_.size() - 1)));
    batch[b] += 1;
  }
  if (t_reducer) t_reducer->sum(batch.data(), static_cast<int64_t>(batch.size()), "observer histogram reduction");
  for (size_t b = 0; b < counts_.size(); ++b) counts_[b] += batch[b];
  seen_ = true;
}

std::pair<float, float> HistogramObserver::percentile_range() const {
  double total = 0;
  for (double c : counts_) total += c;
  const double cut = total * (1.0 - percentile_ / 100.0);
  double acc = 0;
  size_t low_bin = 0, high_bin = counts_.size() - 1;
  for (size_t b = 0; b < counts_.size(); ++b) {
    acc += counts_[b];
    if (acc > cut) { low_bin = b; break; }
  }
  acc = 0;
  for (size_t b = counts_.size(); b-- > 0;) {
    acc += counts_[b];
    if (acc > cut) { high_bin = b; break; }
  }
  const double w = bin_width();
  return {static_cast<float>(lo_ + static_cast<double>(low_bin) * w), static_cast<float>(lo_ + static_cast<double>(high_bin + 1) * w)};
}

std::pair<float, float> HistogramObserver::mse_range() const {
  // Shrink the range around 0 by a common factor; keep the candidate with the least
  // expected squared error, each bin's mass taken at its centre.
  const double w = bin_width();
  double best_error = std::numeric_limits<double>::infinity();
  std::pair<float, float> best{static_cast<float>(lo_), static_cast<float>(hi_)};
  for (int step = 1; step <= 200; ++step) {
    const double f = static_cast<double>(step) / 200.0;
    const auto lo = static_cast<float>(lo_ * f), hi = static_cast<float>(hi_ * f);
    const ChannelParams p = channel_params(lo, hi, scheme_);
    double error = 0;
    for (size_t b = 0; b < counts_.size(); ++b) {
      if (counts_[b] == 0) continue;
      const auto center = static_cast<float>(lo_ + (static_cast<double>(b) + 0.5) * w);
      const double d = center - fake_quantize_value(center, p.scale, p.zero_point, scheme_.qmin(), scheme_.qmax());
      error += counts_[b] * d * d;
    }
    if (error < best_error) {
      best_error = error;
      best = {lo, hi};
    }
  }
  return best;
}

std::pair<float, float> HistogramObserver::kl_range() const {
  // On |x|: the histogram of magnitudes, as TensorRT. Candidate thresholds i bins wide;
  // P = the first i bins with the clipped tail folded into the last, Q = P merged into
  // `levels` buckets and spread back evenly over each bucket's non-empty bins.
  const size_t n = counts_.size();
  const double w = bin_width();
  const double max_abs = std::max(std::fabs(lo_), std::fabs(hi_));
  std::vector<double> mags(n, 0.0);
  for (size_t b = 0; b < n; ++b) {
    const double center = std::fabs(lo_ + (static_cast<double>(b) + 0.5) * w);
    mags[std::min(n - 1, static_cast<size_t>(center / max_abs * static_cast<double>(n)))] += counts_[b];
  }
  // Levels available to magnitudes: the positive half of a signed range, all of an unsigned one.
  const auto levels = static_cast<size_t>(scheme_.qmax() + 1);
  // Exact zeros (a ReLU's output, padding) are represented exactly whatever the threshold
  // and would dominate the distribution: leave them out.
  if (lo_ >= 0) mags[0] = 0;
  double best_kl = std::numeric_limits<double>::infinity();
  size_t best_i = n;
  for (size_t i = std::max<size_t>(levels, 16); i <= n; i += std::max<size_t>(1, n / 512)) {
    std::vector<double> p(mags.begin(), mags.begin() + static_cast<std::ptrdiff_t>(i));
    for (size_t b = i; b < n; ++b) p[i - 1] += mags[b];
    double total = 0;
    for (double v : p) total += v;
    if (total == 0) continue;
    // Q from the unclipped bins (without the folded tail), so clipping shows up as
    // divergence in P's last bin; each bucket's mass is spread over its non-empty bins.
    std::vector<double> q(i, 0.0);
    const double per_level = static_cast<double>(i) / static_cast<double>(levels);
    for (size_t k = 0; k < levels; ++k) {
      const auto begin = static_cast<size_t>(static_cast<double>(k) * per_level);
      const auto end = std::min(i, static_cast<size_t>(static_cast<double>(k + 1) * per_level));
      double mass = 0;
      size_t nonzero = 0;
      for (size_t b = begin; b < end; ++b) {
        mass += mags[b];
        nonzero += mags[b] > 0;
      }
      for (size_t b = begin; b < end; ++b)
        if (mags[b] > 0) q[b] = mass / static_cast<double>(nonzero);
    }
    double q_total = 0;
    for (double v : q) q_total += v;
    if (q_total == 0) continue;
    double kl = 0;
    for (size_t b = 0; b < i; ++b) {
      if (p[b] == 0) continue;
      const double pb = p[b] / total, qb = std::max(q[b] / q_total, 1e-12);
      kl += pb * std::log(pb / qb);
    }
    if (kl < best_kl) {
      best_kl = kl;
      best_i = i;
    }
  }
  const auto threshold = static_cast<float>(static_cast<double>(best_i) / static_cast<double>(n) * max_abs);
  return {lo_ < 0 ? std::max(static_cast<float>(lo_), -threshold) : static_cast<float>(lo_),
          std::min(static_cast<float>(hi_), threshold)};
}

std::pair<Tensor, Tensor> HistogramObserver::range() const {
  std::pair<float, float> r;
  switch (method_) {
    case HistogramMethod::percentile: r = percentile_range(); break;
    case HistogramMethod::mse: r = mse_range(); break;
    case HistogramMethod::kl: r = kl_range(); break;
  }
  return scalar_range(r.first, r.second);
}

std::unique_ptr<Observer> make_observer(const std::string& name, const QuantScheme& scheme) {
  if (name == "minmax") return std::make_unique<MinMaxObserver>();
  if (name == "moving_average") return std::make_unique<MovingAverageMinMaxObserver>();
  if (name == "percentile") return std::make_unique<HistogramObserver>(HistogramMethod::percentile, scheme);
  if (name == "mse") return std::make_unique<HistogramObserver>(HistogramMethod::mse, scheme);
  if (name == "kl") return std::make_unique<HistogramObserver>(HistogramMethod::kl, scheme);
  throw Error("unknown observer '" + name + "' (known: minmax, moving_average, percentile, mse, kl)");
}

}  // namespace intrain::quant
