#include "quant/fake_quant.hpp"

#include <cmath>

#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "quant/quant_math.hpp"

namespace intrain::quant {

namespace {

// Channel count and inner stride for per-channel access along scheme.axis of `x`.
struct ChannelLayout {
  int64_t channels = 1, inner = 1;
  int64_t channel_of(int64_t i) const { return channels == 1 ? 0 : (i / inner) % channels; }
};

ChannelLayout layout_of(const Tensor& x, const QuantScheme& scheme, const char* op) {
  ChannelLayout l;
  l.inner = x.numel();
  if (scheme.per_channel()) {
    INTRAIN_CHECK(scheme.axis < x.dim(), op, ": per-channel axis ", scheme.axis, " does not exist in a tensor of shape ",
                  shape_str(x.shape()));
    l.channels = x.size(scheme.axis);
    l.inner = 1;
    for (int64_t d = scheme.axis + 1; d < x.dim(); ++d) l.inner *= x.size(d);
  }
  return l;
}

void check_input(const Tensor& x, const char* op) {
  INTRAIN_CHECK(x.defined() && x.dtype() == DType::f32, op, ": input must be a defined f32 tensor");
}

}  // namespace

Tensor fake_quantize(const Tensor& x_in, const QuantParams& params, const QuantScheme& scheme) {
  check_input(x_in, "fake_quantize");
  scheme.validate("fake_quantize");
  Tensor x = x_in.contiguous().detach();
  const ChannelLayout l = layout_of(x, scheme, "fake_quantize");
  INTRAIN_CHECK(params.scale.numel() == l.channels && params.zero_point.numel() == l.channels, "fake_quantize: ",
                params.scale.numel(), " scales for ", l.channels, " channel(s) of ", shape_str(x.shape()));
  Tensor out = Tensor::empty(x.shape()), inside = Tensor::empty(x.shape());
  const float* px = x.data<float>();
  const float* s = params.scale.data<float>();
  const int32_t* z = params.zero_point.data<int32_t>();
  float* po = out.data<float>();
  float* pin = inside.data<float>();
  const int32_t qmin = scheme.qmin(), qmax = scheme.qmax();
  for (int64_t i = 0, i_end = x.numel(); i < i_end; ++i) {
    const int64_t c = l.channel_of(i);
    const float q = round_half_even(px[i] / s[c]) + static_cast<float>(z[c]);
    pin[i] = (q >= static_cast<float>(qmin) && q <= static_cast<float>(qmax)) ? 1.0f : 0.0f;
    po[i] = s[c] * (std::clamp(q, static_cast<float>(qmin), static_cast<float>(qmax)) - static_cast<float>(z[c]));
  }
  return record(out, "fake_quantize", {x_in}, [inside](const Tensor& g) { return std::vector<Tensor>{mul(g, inside)}; });
}

Tensor lsq_quantize(const Tensor& x_in, const Tensor& step, const QuantScheme& scheme, float grad_scale) {
  check_input(x_in, "lsq_quantize");
  scheme.validate("lsq_quantize");
  INTRAIN_CHECK(scheme.symmetric, "lsq_quantize: LSQ uses a zero point of 0 (a symmetric scheme)");
  Tensor x = x_in.contiguous().detach();
  const ChannelLayout l = layout_of(x, scheme, "lsq_quantize");
  INTRAIN_CHECK(step.defined() && step.numel() == l.channels, "lsq_quantize: step has ", step.defined() ? step.numel() : 0,
                " elements for ", l.channels, " channel(s)");
  Tensor s_t = step.contiguous().detach();
  const float* s = s_t.data<float>();
  for (int64_t c = 0; c < l.channels; ++c)
    INTRAIN_CHECK(s[c] > 0 && std::isfinite(s[c]), "lsq_quantize: step size must be positive and finite, got ", s[c]);
  const auto qmin = static_cast<float>(scheme.qmin()), qmax = static_cast<float>(scheme.qmax());
  Tensor out = Tensor::empty(x.shape()), dx = Tensor::empty(x.shape()), ds = Tensor::empty(x.shape());
  const float* px = x.data<float>();
  float *po = out.data<float>(), *pdx = dx.data<float>(), *pds = ds.data<float>();
  for (int64_t i = 0, i_end = x.numel(); i < i_end; ++i) {
    const int64_t c = l.channel_of(i);
    const float v = px[i] / s[c];
    const float q = round_half_even(std::clamp(v, qmin, qmax));
    po[i] = q * s[c];
    if (v <= qmin) {
      pdx[i] = 0.0f;
      pds[i] = qmin;
    } else if (v >= qmax) {
      pdx[i] = 0.0f;
      pds[i] = qmax;
    } else {
      pdx[i] = 1.0f;
      pds[i] = q - v;
    }
  }
  const Shape step_shape = step.shape();
  const int64_t axis = scheme.axis;
  const int64_t rank = x.dim();
  return record(out, "lsq_quantize", {x_in, step}, [=](const Tensor& g) {
    Tensor per_element = mul(g, ds);
    Tensor grad_step;
    if (axis < 0) {
      grad_step = sum(per_element).reshape(step_shape);
    } else {
      std::vector<int64_t> dims;
      for (int64_t d = 0; d < rank; ++d)
        if (d != axis) dims.push_back(d);
      grad_step = sum(per_element, dims).reshape(step_shape);
    }
    return std::vector<Tensor>{mul(g, dx), mul(grad_step, grad_scale)};
  });
}

Tensor pact(const Tensor& x_in, const Tensor& alpha, int bits) {
  check_input(x_in, "pact");
  INTRAIN_CHECK(bits >= 1 && bits <= 8, "pact: bits must be in 1..8, got ", bits);
  INTRAIN_CHECK(alpha.defined() && alpha.numel() == 1, "pact: alpha must hold one value");
  const float a = alpha.item();
  INTRAIN_CHECK(a > 0 && std::isfinite(a), "pact: alpha must be positive and finite, got ", a);
  Tensor x = x_in.contiguous().detach();
  const float levels = static_cast<float>((1 << bits) - 1), scale = a / levels;
  Tensor out = Tensor::empty(x.shape()), dx = Tensor::empty(x.shape()), da = Tensor::empty(x.shape());
  const float* px = x.data<float>();
  float *po = out.data<float>(), *pdx = dx.data<float>(), *pda = da.data<float>();
  for (int64_t i = 0, i_end = x.numel(); i < i_end; ++i) {
    const float y = std::clamp(px[i], 0.0f, a);
    po[i] = round_half_even(y / scale) * scale;
    pdx[i] = (px[i] >= 0.0f && px[i] < a) ? 1.0f : 0.0f;
    pda[i] = px[i] >= a ? 1.0f : 0.0f;
  }
  const Shape alpha_shape = alpha.shape();
  return record(out, "pact", {x_in, alpha}, [=](const Tensor& g) {
    return std::vector<Tensor>{mul(g, dx), sum(mul(g, da)).reshape(alpha_shape)};
  });
}

Tensor round_ste(const Tensor& x_in) {
  check_input(x_in, "round_ste");
  Tensor x = x_in.contiguous().detach();
  Tensor out = Tensor::empty(x.shape());
  const float* px = x.data<float>();
  float* po = out.data<float>();
  for (int64_t i = 0, i_end = x.numel(); i < i_end; ++i) po[i] = round_half_even(px[i]);
  return record(out, "round_ste", {x_in}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor dorefa_weight(const Tensor& w, int bits, bool quantize) {
  check_input(w, "dorefa_weight");
  INTRAIN_CHECK(bits >= 1 && bits <= 8, "dorefa_weight: bits must be in 1..8, got ", bits);
  Tensor t = tanh(w);
  Tensor peak = max(abs(t));
  Tensor normalized = add(div(t, mul(peak, 2.0f)), 0.5f);  // in [0, 1]
  if (!quantize) return sub(mul(normalized, 2.0f), Tensor::scalar(1.0f));  // clamp only, in [−1, 1]
  const float levels = static_cast<float>((1 << bits) - 1);
  Tensor q = mul(round_ste(mul(normalized, levels)), 2.0f / levels);
  return add(q, -1.0f);
}

Tensor sat_scale_adjust(const Tensor& w_q) {
  check_input(w_q, "sat_scale_adjust");
  INTRAIN_CHECK(w_q.dim() >= 2, "sat_scale_adjust: expects a weight of rank >= 2, got ", shape_str(w_q.shape()));
  const float n = static_cast<float>(w_q.size(0));
  Tensor centered = sub(w_q, mean(w_q));
  Tensor variance = mean(mul(centered, centered));
  return div(w_q, sqrt(add(mul(variance, n), 1e-12f)));
}

}  // namespace intrain::quant
