#include "quant/fake_quant.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "core/threads.hpp"
#include "quant/kernels/fake_quant_kernels.hpp"
#include "quant/quant_math.hpp"

namespace intrain::quant {

namespace {

// A tensor cut into runs of contiguous elements that share one grid: `outer` blocks of
// `channels` channels (the scheme's axis) of `inner` elements each, and every channel's
// elements further cut into pieces of at most kPiece, so that one large per-tensor
// activation still spreads over the threads. The pieces have a fixed size, not one per
// thread, so the parameter-gradient sums come out the same at any thread count.
struct Runs {
  static constexpr int64_t kPiece = 16384;
  int64_t outer = 1, channels = 1, inner = 1, piece = 1, pieces = 1;

  struct Run {
    int64_t channel, begin, length;
  };
  int64_t count() const { return outer * channels * pieces; }
  Run operator[](int64_t r) const {
    const int64_t part = r % pieces, block = r / pieces;
    const int64_t begin = block * inner + part * piece;
    return {block % channels, begin, std::min(piece, inner - part * piece)};
  }
  // Runs body(run index, run) over every run on the threads, about kPiece elements a task.
  template <class Body>
  void for_each(const Body& body) const {
    const int64_t grain = std::max<int64_t>(1, kPiece / piece);
    parallel_for(count(), grain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) body(r, (*this)[r]);
    });
  }
  // A fake-quant op's forward: out = kernel(x) run by run, kernel(x, out, n, channel).
  template <class Kernel>
  Tensor forward(const Tensor& x, const Kernel& kernel) const {
    Tensor out = Tensor::uninitialized(x.shape());
    const float* px = x.data<float>();
    float* po = out.data<float>();
    for_each([&](int64_t, Run run) { kernel(px + run.begin, po + run.begin, run.length, run.channel); });
    return out;
  }
  // Its backward: dx run by run from kernel(g, x, dx, n, channel), which returns the run's
  // share of the parameter gradient (0 without a parameter); those shares are added per
  // channel in run order.
  struct Gradients {
    Tensor dx;
    std::vector<float> per_channel;
  };
  template <class Kernel>
  Gradients backward(const Tensor& x, const Tensor& g_in, const Kernel& kernel) const {
    Tensor g = g_in.contiguous(), dx = Tensor::uninitialized(x.shape());
    const float *pg = g.data<float>(), *px = x.data<float>();
    float* pdx = dx.data<float>();
    std::vector<float> partial(static_cast<size_t>(count()));
    for_each([&](int64_t r, Run run) {
      partial[static_cast<size_t>(r)] =
          kernel(pg + run.begin, px + run.begin, pdx + run.begin, run.length, run.channel);
    });
    std::vector<double> total(static_cast<size_t>(channels), 0.0);
    for (int64_t r = 0; r < count(); ++r) total[static_cast<size_t>((*this)[r].channel)] += partial[static_cast<size_t>(r)];
    return {dx, {total.begin(), total.end()}};
  }
};

Runs runs_of(const Tensor& x, const QuantScheme& scheme, const char* op) {
  Runs runs;
  runs.inner = x.numel();
  if (scheme.per_channel()) {
    INTRAIN_CHECK(scheme.axis < x.dim(), op, ": per-channel axis ", scheme.axis, " does not exist in a tensor of shape ",
                  shape_str(x.shape()));
    runs.channels = x.size(scheme.axis);
    runs.inner = 1;
    for (int64_t d = scheme.axis + 1; d < x.dim(); ++d) runs.inner *= x.size(d);
    for (int64_t d = 0; d < scheme.axis; ++d) runs.outer *= x.size(d);
  }
  runs.piece = std::max<int64_t>(1, std::min(runs.inner, Runs::kPiece));
  runs.pieces = runs.inner == 0 ? 0 : (runs.inner + runs.piece - 1) / runs.piece;
  return runs;
}

void check_input(const Tensor& x, const char* op) {
  INTRAIN_CHECK(x.defined() && x.dtype() == DType::f32, op, ": input must be a defined f32 tensor");
}

}  // namespace

Tensor fake_quantize(const Tensor& x_in, const QuantParams& params, const QuantScheme& scheme) {
  check_input(x_in, "fake_quantize");
  scheme.validate("fake_quantize");
  Tensor x = x_in.contiguous().detach();
  const Runs runs = runs_of(x, scheme, "fake_quantize");
  INTRAIN_CHECK(params.scale.numel() == runs.channels && params.zero_point.numel() == runs.channels, "fake_quantize: ",
                params.scale.numel(), " scales for ", runs.channels, " channel(s) of ", shape_str(x.shape()));
  std::vector<kernels::AffineGrid> grids(static_cast<size_t>(runs.channels));
  const float* s = params.scale.data<float>();
  const int32_t* z = params.zero_point.data<int32_t>();
  for (int64_t c = 0; c < runs.channels; ++c)
    grids[static_cast<size_t>(c)] = {s[c], static_cast<float>(z[c]), static_cast<float>(scheme.qmin()),
                                     static_cast<float>(scheme.qmax())};
  const auto& k = kernels::fake_quant_kernels();
  Tensor out = runs.forward(x, [&](const float* in, float* o, int64_t n, int64_t c) {
    k.affine(in, o, n, grids[static_cast<size_t>(c)]);
  });
  return record(out, "fake_quantize", {x_in}, [x, runs, grids, &k](const Tensor& g) {
    return std::vector<Tensor>{runs.backward(x, g, [&](const float* pg, const float* px, float* dx, int64_t n, int64_t c) {
                                     k.affine_backward(pg, px, dx, n, grids[static_cast<size_t>(c)]);
                                     return 0.0f;
                                   }).dx};
  });
}

Tensor lsq_quantize(const Tensor& x_in, const Tensor& step, const QuantScheme& scheme, float grad_scale) {
  check_input(x_in, "lsq_quantize");
  scheme.validate("lsq_quantize");
  INTRAIN_CHECK(scheme.symmetric, "lsq_quantize: LSQ uses a zero point of 0 (a symmetric scheme)");
  Tensor x = x_in.contiguous().detach();
  const Runs runs = runs_of(x, scheme, "lsq_quantize");
  INTRAIN_CHECK(step.defined() && step.numel() == runs.channels, "lsq_quantize: step has ",
                step.defined() ? step.numel() : 0, " elements for ", runs.channels, " channel(s)");
  Tensor s_t = step.contiguous().detach();
  const float* s = s_t.data<float>();
  std::vector<kernels::LsqGrid> grids(static_cast<size_t>(runs.channels));
  for (int64_t c = 0; c < runs.channels; ++c) {
    INTRAIN_CHECK(s[c] > 0 && std::isfinite(s[c]), "lsq_quantize: step size must be positive and finite, got ", s[c]);
    grids[static_cast<size_t>(c)] = {s[c], static_cast<float>(scheme.qmin()), static_cast<float>(scheme.qmax())};
  }
  const auto& k = kernels::fake_quant_kernels();
  Tensor out = runs.forward(x, [&](const float* in, float* o, int64_t n, int64_t c) {
    k.lsq(in, o, n, grids[static_cast<size_t>(c)]);
  });
  const Shape step_shape = step.shape();
  return record(out, "lsq_quantize", {x_in, step}, [=, &k](const Tensor& g) {
    const Runs::Gradients grads = runs.backward(x, g, [&](const float* pg, const float* px, float* dx, int64_t n, int64_t c) {
      return k.lsq_backward(pg, px, dx, n, grids[static_cast<size_t>(c)]);
    });
    Tensor grad_step = Tensor::uninitialized(step_shape);
    for (int64_t c = 0; c < runs.channels; ++c)
      grad_step.data<float>()[c] = grads.per_channel[static_cast<size_t>(c)] * grad_scale;
    return std::vector<Tensor>{grads.dx, grad_step};
  });
}

Tensor pact(const Tensor& x_in, const Tensor& alpha, int bits) {
  check_input(x_in, "pact");
  INTRAIN_CHECK(bits >= 1 && bits <= 8, "pact: bits must be in 1..8, got ", bits);
  INTRAIN_CHECK(alpha.defined() && alpha.numel() == 1, "pact: alpha must hold one value");
  const float a = alpha.item();
  INTRAIN_CHECK(a > 0 && std::isfinite(a), "pact: alpha must be positive and finite, got ", a);
  Tensor x = x_in.contiguous().detach();
  const Runs runs = runs_of(x, QuantScheme{}, "pact");
  const kernels::PactGrid grid{a, a / static_cast<float>((1 << bits) - 1)};
  const auto& k = kernels::fake_quant_kernels();
  Tensor out = runs.forward(x, [&](const float* in, float* o, int64_t n, int64_t) { k.pact(in, o, n, grid); });
  const Shape alpha_shape = alpha.shape();
  return record(out, "pact", {x_in, alpha}, [=, &k](const Tensor& g) {
    const Runs::Gradients grads = runs.backward(x, g, [&](const float* pg, const float* px, float* dx, int64_t n, int64_t) {
      return k.pact_backward(pg, px, dx, n, grid);
    });
    return std::vector<Tensor>{grads.dx, Tensor::full(alpha_shape, grads.per_channel[0])};
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
