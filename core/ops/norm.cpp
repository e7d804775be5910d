// Batch normalization over [N, C, ...]: per-channel statistics, forward and backward.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "core/ops/op_checks.hpp"
#include "core/threads.hpp"

namespace intrain {

namespace {

void check_channel_vector(const Tensor& t, int64_t channels, const char* name) {
  detail::check_defined_f32(t, "batch_norm", name);
  INTRAIN_CHECK(t.dim() == 1 && t.size(0) == channels && t.is_contiguous(), "batch_norm: ", name, " ",
                shape_str(t.shape()), " must be a contiguous vector of ", channels, " channels");
}

}  // namespace

namespace {

Tensor batch_norm_impl(const Tensor& x_in, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                       Tensor running_var, bool training, float momentum, float eps,
                       const SumAcrossProcesses* sum_across) {
  detail::check_defined_f32(x_in, "batch_norm", "input");
  INTRAIN_CHECK(x_in.dim() >= 2, "batch_norm: input must be [N, C, ...], got ", shape_str(x_in.shape()));
  const int64_t batch = x_in.size(0), channels = x_in.size(1);
  const int64_t spatial = x_in.numel() / std::max<int64_t>(1, batch * channels);
  if (weight.defined()) check_channel_vector(weight, channels, "weight");
  if (bias.defined()) check_channel_vector(bias, channels, "bias");
  const bool have_running = running_mean.defined() || running_var.defined();
  if (have_running) {
    check_channel_vector(running_mean, channels, "running_mean");
    check_channel_vector(running_var, channels, "running_var");
  }
  INTRAIN_CHECK(training || have_running, "batch_norm: eval mode needs running_mean and running_var");
  INTRAIN_CHECK(eps > 0, "batch_norm: eps must be positive, got ", eps);

  Tensor x = x_in.contiguous().detach();
  const float* px = x.data<float>();
  // The statistics first, for every channel: each process's own (two passes: no
  // cancellation for large means), or [Σx, Σx², count] summed across the processes.
  std::vector<double> mean(static_cast<size_t>(channels)), var(static_cast<size_t>(channels));
  double count = static_cast<double>(batch * spatial);
  if (training && sum_across) {
    std::vector<double> sums(static_cast<size_t>(2 * channels + 1), 0.0);
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
        sums[static_cast<size_t>(c)] = s;
        sums[static_cast<size_t>(channels + c)] = ss;
      }
    });
    sums.back() = count;
    (*sum_across)(sums.data(), static_cast<int64_t>(sums.size()), "synchronized batch-norm statistics");
    count = sums.back();
    for (int64_t c = 0; c < channels; ++c) {
      mean[static_cast<size_t>(c)] = sums[static_cast<size_t>(c)] / count;
      var[static_cast<size_t>(c)] = std::max(0.0, sums[static_cast<size_t>(channels + c)] / count -
                                                       mean[static_cast<size_t>(c)] * mean[static_cast<size_t>(c)]);
    }
  } else if (training) {
    parallel_for(channels, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double s = 0;
        for (int64_t n = 0; n < batch; ++n)
          for (int64_t i = 0; i < spatial; ++i) s += px[(n * channels + c) * spatial + i];
        const double m = s / count;
        double ss = 0;
        for (int64_t n = 0; n < batch; ++n)
          for (int64_t i = 0; i < spatial; ++i) {
            const double d = px[(n * channels + c) * spatial + i] - m;
            ss += d * d;
          }
        mean[static_cast<size_t>(c)] = m;
        var[static_cast<size_t>(c)] = ss / count;
      }
    });
  }
  INTRAIN_CHECK(!training || count > 1, "batch_norm: training needs more than one value per channel",
                sum_across ? " over all processes" : "", ", got input ", shape_str(x_in.shape()));

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
      double m = mean[static_cast<size_t>(c)], v = var[static_cast<size_t>(c)];
      if (!training) {
        m = prm[c];
        v = prv[c];
      } else if (prm) {
        prm[c] = static_cast<float>((1.0 - momentum) * prm[c] + momentum * m);
        prv[c] = static_cast<float>((1.0 - momentum) * prv[c] + momentum * v * count / (count - 1));
      }
      const float is = static_cast<float>(1.0 / std::sqrt(v + eps));
      pm[c] = static_cast<float>(m);
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
  // The sum function is copied into the node: backward runs after this call returns.
  const SumAcrossProcesses sum_backward = sum_across ? *sum_across : SumAcrossProcesses();
  return record(out, sum_across ? "sync_batch_norm" : "batch_norm", {x_in, weight, bias}, [=](const Tensor& g_in) {
    // Re-derive the pointers from the captured tensors, which keep the memory alive.
    const float* px = x.data<float>();
    const float* pm = mean_used.data<float>();
    const float* pis = invstd.data<float>();
    Tensor g = g_in.contiguous();
    const float* pg = g.data<float>();
    // [Σg, Σg·x̂] per channel: this process's weight and bias gradients, and (summed across
    // the processes when synchronized) what the input gradient needs.
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
    if (sum_backward) sum_backward(sums.data(), static_cast<int64_t>(sums.size()), "synchronized batch-norm backward");
    Tensor dx = Tensor::empty(x.shape());
    float* pdx = dx.data<float>();
    const float* pwd = wd.defined() ? wd.data<float>() : nullptr;
    parallel_for(channels, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const float m = pm[c], is = pis[c], w = pwd ? pwd[c] : 1.0f;
        if (!training) {
          for (int64_t n = 0; n < batch; ++n)
            for (int64_t i = 0; i < spatial; ++i) {
              const int64_t k = (n * channels + c) * spatial + i;
              pdx[k] = pg[k] * w * is;
            }
          continue;
        }
        // dx = w·invstd/M · (M·g − Σg − x̂·Σ(g·x̂)): the batch statistics depend on x too
        // (M and both sums over the global batch when synchronized).
        const float a = w * is / static_cast<float>(count);
        const auto mg = static_cast<float>(sums[static_cast<size_t>(c)]);
        const auto mgx = static_cast<float>(sums[static_cast<size_t>(channels + c)]);
        for (int64_t n = 0; n < batch; ++n)
          for (int64_t i = 0; i < spatial; ++i) {
            const int64_t k = (n * channels + c) * spatial + i;
            pdx[k] = a * (static_cast<float>(count) * pg[k] - mg - (px[k] - m) * is * mgx);
          }
      }
    });
    return std::vector<Tensor>{dx, dw, db};
  });
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                  Tensor running_var, bool training, float momentum, float eps) {
  return batch_norm_impl(x, weight, bias, std::move(running_mean), std::move(running_var), training, momentum, eps,
                         nullptr);
}

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                  Tensor running_var, float momentum, float eps, const SumAcrossProcesses& sum_across) {
  INTRAIN_CHECK(static_cast<bool>(sum_across), "batch_norm: synchronized batch norm needs a sum across processes");
  return batch_norm_impl(x, weight, bias, std::move(running_mean), std::move(running_var), true, momentum, eps,
                         &sum_across);
}

}  // namespace intrain
