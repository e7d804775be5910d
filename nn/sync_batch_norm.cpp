#include "nn/sync_batch_norm.hpp"

#include <cmath>
#include <vector>

#include "core/autograd.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"
#include "nn/layers.hpp"

namespace intrain::nn {

namespace {

void check_channels(const Tensor& t, int64_t channels, const char* name) {
  INTRAIN_CHECK(t.defined() && t.dtype() == DType::f32 && t.dim() == 1 && t.size(0) == channels && t.is_contiguous(),
                "sync_batch_norm: ", name, " must be a contiguous f32 vector of ", channels, " channels, got ",
                t.defined() ? shape_str(t.shape()) : std::string("undefined"));
}

}  // namespace

Tensor sync_batch_norm(const Tensor& x_in, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                       Tensor running_var, float momentum, float eps, std::shared_ptr<CrossProcessReducer> reducer) {
  INTRAIN_CHECK(reducer, "sync_batch_norm: no reducer");
  INTRAIN_CHECK(x_in.defined() && x_in.dtype() == DType::f32 && x_in.dim() >= 2,
                "sync_batch_norm: input must be f32 [N, C, ...], got ", x_in.defined() ? shape_str(x_in.shape()) : "undefined");
  INTRAIN_CHECK(eps > 0, "sync_batch_norm: eps must be positive, got ", eps);
  const int64_t batch = x_in.size(0), channels = x_in.size(1);
  const int64_t spatial = x_in.numel() / std::max<int64_t>(1, batch * channels);
  if (weight.defined()) check_channels(weight, channels, "weight");
  if (bias.defined()) check_channels(bias, channels, "bias");
  const bool have_running = running_mean.defined() || running_var.defined();
  if (have_running) {
    check_channels(running_mean, channels, "running_mean");
    check_channels(running_var, channels, "running_var");
  }

  Tensor x = x_in.contiguous().detach();
  const float* px = x.data<float>();
  // [Σx per channel, Σx² per channel, count]: one reduction for the layer.
  std::vector<double> stats(static_cast<size_t>(2 * channels + 1), 0.0);
  parallel_for(channels, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double s = 0, ss = 0;
      for (int64_t n = 0; n < batch; ++n) {
        const float* xi = px + (n * channels + c) * spatial;
        for (int64_t i = 0; i < spatial; ++i) {
          s += xi[i];
          ss += static_cast<double>(xi[i]) * xi[i];
        }
      }
      stats[static_cast<size_t>(c)] = s;
      stats[static_cast<size_t>(channels + c)] = ss;
    }
  });
  stats.back() = static_cast<double>(batch * spatial);
  reducer->sum(stats.data(), static_cast<int64_t>(stats.size()), "synchronized batch-norm statistics");
  const double count = stats.back();
  INTRAIN_CHECK(count > 1, "sync_batch_norm: training needs more than one value per channel over all processes, got ",
                count);

  Tensor out = Tensor::uninitialized(x.shape());
  Tensor mean_used = Tensor::empty({channels}), invstd = Tensor::empty({channels});
  float* po = out.data<float>();
  float* pm = mean_used.data<float>();
  float* pis = invstd.data<float>();
  const float* pw = weight.defined() ? weight.data<float>() : nullptr;
  const float* pb = bias.defined() ? bias.data<float>() : nullptr;
  float* prm = have_running ? running_mean.data<float>() : nullptr;
  float* prv = have_running ? running_var.data<float>() : nullptr;
  parallel_for(channels, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const double mean = stats[static_cast<size_t>(c)] / count;
      const double var = std::max(0.0, stats[static_cast<size_t>(channels + c)] / count - mean * mean);
      if (prm) {
        prm[c] = static_cast<float>((1.0 - momentum) * prm[c] + momentum * mean);
        prv[c] = static_cast<float>((1.0 - momentum) * prv[c] + momentum * var * count / (count - 1));
      }
      const float is = static_cast<float>(1.0 / std::sqrt(var + eps));
      pm[c] = static_cast<float>(mean);
      pis[c] = is;
      const float scale = is * (pw ? pw[c] : 1.0f), shift = (pb ? pb[c] : 0.0f) - pm[c] * scale;
      for (int64_t n = 0; n < batch; ++n) {
        const float* xi = px + (n * channels + c) * spatial;
        float* yo = po + (n * channels + c) * spatial;
        for (int64_t i = 0; i < spatial; ++i) yo[i] = xi[i] * scale + shift;
      }
    }
  });

  Tensor wd = weight.defined() ? weight.detach() : Tensor();
  const bool gx = x_in.requires_grad();
  const bool gw = weight.defined() && weight.requires_grad(), gb = bias.defined() && bias.requires_grad();
  return record(out, "sync_batch_norm", {x_in, weight, bias}, [=](const Tensor& g_in) {
    const float* px = x.data<float>();
    const float* pm = mean_used.data<float>();
    const float* pis = invstd.data<float>();
    Tensor g = g_in.contiguous();
    const float* pg = g.data<float>();
    // This process's [Σg, Σg·x̂] per channel: its own weight and bias gradients, and its
    // share of what the input gradient needs from every process.
    std::vector<double> sums(static_cast<size_t>(2 * channels), 0.0);
    parallel_for(channels, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double sum_g = 0, sum_g_xhat = 0;
        for (int64_t n = 0; n < batch; ++n)
          for (int64_t i = 0; i < spatial; ++i) {
            const int64_t k = (n * channels + c) * spatial + i;
            sum_g += pg[k];
            sum_g_xhat += pg[k] * (px[k] - pm[c]) * pis[c];
          }
        sums[static_cast<size_t>(c)] = sum_g;
        sums[static_cast<size_t>(channels + c)] = sum_g_xhat;
      }
    });
    Tensor dw = gw ? Tensor::empty({channels}) : Tensor();
    Tensor db = gb ? Tensor::empty({channels}) : Tensor();
    for (int64_t c = 0; c < channels; ++c) {
      if (gw) dw.data<float>()[c] = static_cast<float>(sums[static_cast<size_t>(channels + c)]);
      if (gb) db.data<float>()[c] = static_cast<float>(sums[static_cast<size_t>(c)]);
    }
    if (!gx) return std::vector<Tensor>{Tensor(), dw, db};
    // Whether x needs a gradient is the same on every process (the same model), so either
    // all of them make this reduction or none does.
    reducer->sum(sums.data(), static_cast<int64_t>(sums.size()), "synchronized batch-norm backward");
    Tensor dx = Tensor::empty(x.shape());
    float* pdx = dx.data<float>();
    const float* pwd = wd.defined() ? wd.data<float>() : nullptr;
    parallel_for(channels, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        // dx = w·invstd/M · (M·g − Σg − x̂·Σ(g·x̂)), M and both sums over the global batch.
        const float m = pm[c], is = pis[c], w = pwd ? pwd[c] : 1.0f;
        const auto a = static_cast<float>(w * is / count), total = static_cast<float>(count);
        const auto mg = static_cast<float>(sums[static_cast<size_t>(c)]);
        const auto mgx = static_cast<float>(sums[static_cast<size_t>(channels + c)]);
        for (int64_t n = 0; n < batch; ++n)
          for (int64_t i = 0; i < spatial; ++i) {
            const int64_t k = (n * channels + c) * spatial + i;
            pdx[k] = a * (total * pg[k] - mg - (px[k] - m) * is * mgx);
          }
      }
    });
    return std::vector<Tensor>{dx, dw, db};
  });
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
