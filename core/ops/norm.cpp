// Batch normalization over [N, C, ...]: per-channel statistics, forward and backward.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/autograd.hpp"
#include "core/kernels/batch_norm.hpp"
#include "core/ops.hpp"
#include "core/ops/activation_bounds.hpp"
#include "core/ops/op_checks.hpp"
#include "core/threads.hpp"

namespace intrain {

namespace {

void check_channel_vector(const Tensor& t, int64_t channels, const char* name) {
  detail::check_defined_f32(t, "batch_norm", name);
  INTRAIN_CHECK(t.dim() == 1 && t.size(0) == channels && t.is_contiguous(), "batch_norm: ", name, " ",
                shape_str(t.shape()), " must be a contiguous vector of ", channels, " channels");
}

// The op's name in errors, with the activation it carries.
const char* op_name(kernels::ConvActivation activation, bool synchronized) {
  switch (activation) {
    case kernels::ConvActivation::relu: return synchronized ? "sync_batch_norm_relu" : "batch_norm_relu";
    case kernels::ConvActivation::relu6: return synchronized ? "sync_batch_norm_relu6" : "batch_norm_relu6";
    case kernels::ConvActivation::none: break;
  }
  return synchronized ? "sync_batch_norm" : "batch_norm";
}

Tensor batch_norm_impl(const Tensor& x_in, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                       Tensor running_var, bool training, float momentum, float eps,
                       const SumAcrossProcesses* sum_across, kernels::ConvActivation activation) {
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
  const kernels::BatchNormKernels& k = kernels::batch_norm_kernels();
  // Channel c's values: one run of `spatial` floats per image.
  const kernels::ChannelRuns runs{batch, spatial, channels * spatial};
  auto at = [spatial](auto* p, int64_t c) { return p + c * spatial; };
  // The statistics: each process's own (two passes, mean then centred squares: no
  // cancellation for large means), computed channel by channel just before that channel is
  // normalized so its values are still in cache; or [Σx, Σx², count] summed across the
  // processes first, for every channel.
  std::vector<double> mean(static_cast<size_t>(channels)), var(static_cast<size_t>(channels));
  double count = static_cast<double>(batch * spatial);
  if (training && sum_across) {
    std::vector<double> sums(static_cast<size_t>(2 * channels + 1), 0.0);
    parallel_for(channels, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        sums[static_cast<size_t>(c)] = k.sum(at(px, c), runs);
        sums[static_cast<size_t>(channels + c)] = k.square_sum(at(px, c), runs, 0.0f);
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
  }
  const bool local_statistics = training && !sum_across;
  INTRAIN_CHECK(!training || count > 1, "batch_norm: training needs more than one value per channel",
                sum_across ? " over all processes" : "", ", got input ", shape_str(x_in.shape()));

  const detail::ActivationBounds bounds = detail::activation_bounds(activation);
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
      if (local_statistics) {
        const double channel_mean = k.sum(at(px, c), runs) / count;
        mean[static_cast<size_t>(c)] = channel_mean;
        var[static_cast<size_t>(c)] = k.square_sum(at(px, c), runs, static_cast<float>(channel_mean)) / count;
      }
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
      k.affine(at(px, c), runs, scale, shift, bounds.lo, bounds.hi, at(po, c));
    }
  });

  Tensor wd = weight.defined() ? weight.detach() : Tensor();
  const bool gx = x_in.requires_grad();
  const bool gw = weight.defined() && weight.requires_grad(), gb = bias.defined() && bias.requires_grad();
  // The sum function is copied into the node: backward runs after this call returns.
  const SumAcrossProcesses sum_backward = sum_across ? *sum_across : SumAcrossProcesses();
  // The output, for the activation's gradient mask (none without an activation).
  const Tensor y = activation == kernels::ConvActivation::none ? Tensor() : out.detach();
  return record(out, op_name(activation, sum_across != nullptr), {x_in, weight, bias}, [=](const Tensor& g_in) {
    // Re-derive the pointers from the captured tensors, which keep the memory alive.
    const float* px = x.data<float>();
    const float* pm = mean_used.data<float>();
    const float* pis = invstd.data<float>();
    Tensor g = g_in.contiguous();
    const float* pg = g.data<float>();
    const float* py = y.defined() ? y.data<float>() : nullptr;
    auto mask_of = [&](int64_t c) {
      return py ? kernels::ActivationMask{at(py, c), bounds.grad_lo, bounds.grad_hi} : kernels::ActivationMask{};
    };
    Tensor dx = gx ? Tensor::uninitialized(x.shape()) : Tensor();  // written whole by grad_input
    float* pdx = gx ? dx.data<float>() : nullptr;
    const float* pwd = wd.defined() ? wd.data<float>() : nullptr;
    // [Σg, Σg·x̂] per channel: this process's weight and bias gradients, and (summed across
    // the processes when synchronized) what the input gradient needs.
    std::vector<double> sums(static_cast<size_t>(2 * channels), 0.0);
    auto input_gradient = [&](int64_t c) {
      const float is = pis[c], w = pwd ? pwd[c] : 1.0f;
      if (!training)  // the statistics are constants: dx = g·w·invstd
        return k.grad_input(at(pg, c), at(px, c), mask_of(c), runs, pm[c], w * is, 0.0f, 0.0f, at(pdx, c));
      // dx = w·invstd/M · (M·g − Σg − x̂·Σ(g·x̂)) with x̂ = (x − mean)·invstd: the batch
      // statistics depend on x too (M and both sums over the global batch when synchronized).
      const double a = static_cast<double>(w) * is / count;
      const double mg = sums[static_cast<size_t>(c)], mgx = sums[static_cast<size_t>(channels + c)];
      k.grad_input(at(pg, c), at(px, c), mask_of(c), runs, pm[c], static_cast<float>(a * count),
                   static_cast<float>(-a * is * mgx), static_cast<float>(-a * mg), at(pdx, c));
    };
    // Without synchronization a channel's input gradient follows its sums at once, while its
    // g and x are still in cache; synchronized, every channel's sums must cross first.
    const bool gradient_follows_sums = gx && !sum_backward;
    parallel_for(channels, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double sum_g = 0, sum_g_centred = 0;
        k.grad_sums(at(pg, c), at(px, c), mask_of(c), runs, pm[c], &sum_g, &sum_g_centred);
        sums[static_cast<size_t>(c)] = sum_g;
        sums[static_cast<size_t>(channels + c)] = sum_g_centred * pis[c];
        if (gradient_follows_sums) input_gradient(c);
      }
    });
    Tensor dw = gw ? Tensor::empty({channels}) : Tensor();
    Tensor db = gb ? Tensor::empty({channels}) : Tensor();
    for (int64_t c = 0; c < channels; ++c) {
      if (gw) dw.data<float>()[c] = static_cast<float>(sums[static_cast<size_t>(channels + c)]);
      if (gb) db.data<float>()[c] = static_cast<float>(sums[static_cast<size_t>(c)]);
    }
    if (!gx || gradient_follows_sums) return std::vector<Tensor>{dx, dw, db};
    // Whether x needs a gradient is the same on every process (the same model), so either
    // all of them make this reduction or none does.
    sum_backward(sums.data(), static_cast<int64_t>(sums.size()), "synchronized batch-norm backward");
    parallel_for(channels, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) input_gradient(c);
    });
    return std::vector<Tensor>{dx, dw, db};
  });
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                  Tensor running_var, bool training, float momentum, float eps, kernels::ConvActivation activation) {
  return batch_norm_impl(x, weight, bias, std::move(running_mean), std::move(running_var), training, momentum, eps,
                         nullptr, activation);
}

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                  Tensor running_var, float momentum, float eps, const SumAcrossProcesses& sum_across,
                  kernels::ConvActivation activation) {
  INTRAIN_CHECK(static_cast<bool>(sum_across), "batch_norm: synchronized batch norm needs a sum across processes");
  return batch_norm_impl(x, weight, bias, std::move(running_mean), std::move(running_var), true, momentum, eps,
                         &sum_across, activation);
}

}  // namespace intrain
