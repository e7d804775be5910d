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
  // Per-channel totals of per-run partial sums, added in run order.
  std::vector<float> channel_sums(const std::vector<float>& partial) const {
    std::vector<double> total(static_cast<size_t>(channels), 0.0);
    for (int64_t r = 0; r < count(); ++r) total[static_cast<size_t>((*this)[r].channel)] += partial[static_cast<size_t>(r)];
    return {total.begin(), total.end()};
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
  Tensor out = Tensor::uninitialized(x.shape());
  const float* px = x.data<float>();
  float* po = out.data<float>();
  runs.for_each([&](int64_t, Runs::Run run) {
    k.affine(px + run.begin, po + run.begin, run.length, grids[static_cast<size_t>(run.channel)]);
  });
  return record(out, "fake_quantize", {x_in}, [x, runs, grids](const Tensor& g_in) {
    Tensor g = g_in.contiguous(), dx = Tensor::uninitialized(x.shape());
    const auto& kb = kernels::fake_quant_kernels();
    const float *pg = g.data<float>(), *px = x.data<float>();
    float* pdx = dx.data<float>();
    runs.for_each([&](int64_t, Runs::Run run) {
      kb.affine_backward(pg + run.begin, px + run.begin, pdx + run.begin, run.length,
                         grids[static_cast<size_t>(run.channel)]);
    });
    return std::vector<Tensor>{dx};
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
  Tensor out = Tensor::uninitialized(x.shape());
  const float* px = x.data<float>();
  float* po = out.data<float>();
  runs.for_each([&](int64_t, Runs::Run run) {
    k.lsq(px + run.begin, po + run.begin, run.length, grids[static_cast<size_t>(run.channel)]);
  });
  const Shape step_shape = step.shape();
  return record(out, "lsq_quantize", {x_in, step}, [=](const Tensor& g_in) {
    Tensor g = g_in.contiguous(), dx = Tensor::uninitialized(x.shape());
    const auto& kb = kernels::fake_quant_kernels();
    const float *pg = g.data<float>(), *px = x.data<float>();
    float* pdx = dx.data<float>();
    std::vector<float> partial(static_cast<size_t>(runs.count()));
    runs.for_each([&](int64_t r, Runs::Run run) {
      partial[static_cast<size_t>(r)] = kb.lsq_backward(pg + run.begin, px + run.begin, pdx + run.begin, run.length,
                                                        grids[static_cast<size_t>(run.channel)]);
    });
    const std::vector<float> sums = runs.channel_sums(partial);
    Tensor grad_step = Tensor::uninitialized(step_shape);
    for (int64_t c = 0; c < runs.channels; ++c) grad_step.data<float>()[c] = sums[static_cast<size_t>(c)] * grad_scale;
    return std::vector<Tensor>{dx, grad_step};
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
  Tensor out = Tensor::uninitialized(x.shape());
  const float* px = x.data<float>();
  float* po = out.data<float>();
  runs.for_each([&](int64_t, Runs::Run run) { k.pact(px + run.begin, po + run.begin, run.length, grid); });
  const Shape alpha_shape = alpha.shape();
  return record(out, "pact", {x_in, alpha}, [=](const Tensor& g_in) {
    Tensor g = g_in.contiguous(), dx = Tensor::uninitialized(x.shape());
    const auto& kb = kernels::fake_quant_kernels();
    const float *pg = g.data<float>(), *px = x.data<float>();
    float* pdx = dx.data<float>();
    std::vector<float> partial(static_cast<size_t>(runs.count()));
    runs.for_each([&](int64_t r, Runs::Run run) {
      partial[static_cast<size_t>(r)] = kb.pact_backward(pg + run.begin, px + run.begin, pdx + run.begin, run.length, grid);
    });
    return std::vector<Tensor>{dx, Tensor::full(alpha_shape, runs.channel_sums(partial)[0])};
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
