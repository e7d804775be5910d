// Batch normalization over [N, C, ...]: per-channel statistics, forward and backward.
#include <cmath>

#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "core/ops/op_checks.hpp"

namespace intrain {

namespace {

void check_channel_vector(const Tensor& t, int64_t channels, const char* name) {
  detail::check_defined_f32(t, "batch_norm", name);
  INTRAIN_CHECK(t.dim() == 1 && t.size(0) == channels && t.is_contiguous(), "batch_norm: ", name, " ",
                shape_str(t.shape()), " must be a contiguous vector of ", channels, " channels");
}

}  // namespace

Tensor batch_norm(const Tensor& x_in, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                  Tensor running_var, bool training, float momentum, float eps) {
  detail::check_defined_f32(x_in, "batch_norm", "input");
  INTRAIN_CHECK(x_in.dim() >= 2, "batch_norm: input must be [N, C, ...], got ", shape_str(x_in.shape()));
  const int64_t batch = x_in.size(0), channels = x_in.size(1);
  const int64_t spatial = x_in.numel() / std::max<int64_t>(1, batch * channels);
  const int64_t count = batch * spatial;
  if (weight.defined()) check_channel_vector(weight, channels, "weight");
  if (bias.defined()) check_channel_vector(bias, channels, "bias");
  const bool have_running = running_mean.defined() || running_var.defined();
  if (have_running) {
    check_channel_vector(running_mean, channels, "running_mean");
    check_channel_vector(running_var, channels, "running_var");
  }
  INTRAIN_CHECK(training || have_running, "batch_norm: eval mode needs running_mean and running_var");
  INTRAIN_CHECK(!training || count > 1, "batch_norm: training needs more than one value per channel, got input ",
                shape_str(x_in.shape()));
  INTRAIN_CHECK(eps > 0, "batch_norm: eps must be positive, got ", eps);

  Tensor x = x_in.contiguous().detach();
  Tensor out = Tensor::uninitialized(x.shape());
  Tensor mean_used = Tensor::empty({channels}), invstd = Tensor::empty({channels});
  const float* px = x.data<float>();
  float* po = out.data<float>();
  float* pm = mean_used.data<float>();
  float* pis = invstd.data<float>();
  const float* pw = weight.defined() ? weight.data<float>() : nullptr;
  const float* pb = bias.defined() ? bias.data<float>() : nullptr;
  float* prm = have_running ? running_mean.data<float>() : nullptr;
  float* prv = have_running ? running_var.data<float>() : nullptr;

  parallel_for(channels, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double mean, var;
      if (training) {
        double s = 0;
        for (int64_t n = 0; n < batch; ++n)
          for (int64_t i = 0; i < spatial; ++i) s += px[(n * channels + c) * spatial + i];
        mean = s / static_cast<double>(count);
        double ss = 0;  // two passes: no cancellation for large means
        for (int64_t n = 0; n < batch; ++n)
          for (int64_t i = 0; i < spatial; ++i) {
            const double d = px[(n * channels + c) * spatial + i] - mean;
            ss += d * d;
          }
        var = ss / static_cast<double>(count);
        if (prm) {
          prm[c] = static_cast<float>((1.0 - momentum) * prm[c] + momentum * mean);
          prv[c] = static_cast<float>((1.0 - momentum) * prv[c] +
                                      momentum * var * static_cast<double>(count) / static_cast<double>(count - 1));
        }
      } else {
        mean = prm[c];
        var = prv[c];
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
  return record(out, "batch_norm", {x_in, weight, bias}, [=](const Tensor& g_in) {
    // Re-derive the pointers from the captured tensors, which keep the memory alive.
    const float* px = x.data<float>();
    const float* pm = mean_used.data<float>();
    const float* pis = invstd.data<float>();
    Tensor g = g_in.contiguous();
    const float* pg = g.data<float>();
    Tensor dx = gx ? Tensor::empty(x.shape()) : Tensor();
    Tensor dw = gw ? Tensor::empty({channels}) : Tensor();
    Tensor db = gb ? Tensor::empty({channels}) : Tensor();
    const float* pwd = wd.defined() ? wd.data<float>() : nullptr;
    parallel_for(channels, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const float m = pm[c], is = pis[c], w = pwd ? pwd[c] : 1.0f;
        double sum_g = 0, sum_g_xhat = 0;
        for (int64_t n = 0; n < batch; ++n)
          for (int64_t i = 0; i < spatial; ++i) {
            const int64_t k = (n * channels + c) * spatial + i;
            sum_g += pg[k];
            sum_g_xhat += pg[k] * (px[k] - m) * is;
          }
        if (gw) dw.data<float>()[c] = static_cast<float>(sum_g_xhat);
        if (gb) db.data<float>()[c] = static_cast<float>(sum_g);
        if (!gx) continue;
        float* pdx = dx.data<float>();
        if (training) {
          // dx = w·invstd/M · (M·g − Σg − x̂·Σ(g·x̂)): the batch statistics depend on x too.
          const float a = w * is / static_cast<float>(count);
          const auto mg = static_cast<float>(sum_g), mgx = static_cast<float>(sum_g_xhat);
          for (int64_t n = 0; n < batch; ++n)
            for (int64_t i = 0; i < spatial; ++i) {
              const int64_t k = (n * channels + c) * spatial + i;
              pdx[k] = a * (static_cast<float>(count) * pg[k] - mg - (px[k] - m) * is * mgx);
            }
        } else {
          for (int64_t n = 0; n < batch; ++n)
            for (int64_t i = 0; i < spatial; ++i) {
              const int64_t k = (n * channels + c) * spatial + i;
              pdx[k] = pg[k] * w * is;
            }
        }
      }
    });
    return std::vector<Tensor>{dx, dw, db};
  });
}

}  // namespace intrain
