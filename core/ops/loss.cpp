// log_softmax, softmax, nll_loss and cross_entropy.
#include <cmath>

#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "core/ops/op_checks.hpp"

namespace intrain {

Tensor log_softmax(const Tensor& x_in, int64_t dim_in) {
  detail::check_defined_f32(x_in, "log_softmax", "input");
  INTRAIN_CHECK(x_in.dim() >= 1, "log_softmax: input must have at least one dimension");
  const int64_t d = normalize_dim(dim_in, x_in.dim(), "log_softmax");
  Tensor x = x_in.contiguous().detach();
  const int64_t size_d = x.size(d);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= x.size(i);
  for (int64_t i = d + 1; i < x.dim(); ++i) inner *= x.size(i);
  Tensor out = Tensor::empty(x.shape());
  const float* px = x.data<float>();
  float* po = out.data<float>();
  parallel_for(outer * inner, 256, [&](int64_t s, int64_t e) {
    for (int64_t r = s; r < e; ++r) {
      const float* base = px + (r / inner) * size_d * inner + r % inner;
      float* ob = po + (r / inner) * size_d * inner + r % inner;
      float m = -INFINITY;
      for (int64_t j = 0; j < size_d; ++j) m = std::max(m, base[j * inner]);
      double z = 0;  // log-sum-exp around the maximum: no overflow
      for (int64_t j = 0; j < size_d; ++j) z += std::exp(static_cast<double>(base[j * inner] - m));
      const float lse = m + static_cast<float>(std::log(z));
      for (int64_t j = 0; j < size_d; ++j) ob[j * inner] = base[j * inner] - lse;
    }
  });
  Tensor y = out.detach();
  return record(out, "log_softmax", {x_in}, [y, d](const Tensor& g) {
    // dx = g − softmax · Σ_d g
    return std::vector<Tensor>{sub(g, mul(exp(y), sum(g, {d}, true)))};
  });
}

Tensor softmax(const Tensor& x, int64_t dim) { return exp(log_softmax(x, dim)); }

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction reduction) {
  detail::check_defined_f32(log_probs, "nll_loss", "log_probs");
  detail::check_rank(log_probs, 2, "nll_loss", "log_probs", "[N, C]");
  INTRAIN_CHECK(target.defined() && target.dtype() == DType::i32, "nll_loss: target must be i32 class indices",
                target.defined() ? std::string(", got ") + dtype_name(target.dtype()) : std::string());
  INTRAIN_CHECK(target.dim() == 1 && target.size(0) == log_probs.size(0), "nll_loss: target ",
                shape_str(target.shape()), " does not match batch of log_probs ", shape_str(log_probs.shape()));
  const int64_t n = log_probs.size(0), classes = log_probs.size(1);
  INTRAIN_CHECK(reduction != Reduction::mean || n > 0, "nll_loss: mean over an empty batch");
  Tensor lp = log_probs.contiguous().detach(), t = target.contiguous();
  const float* pl = lp.data<float>();
  const int32_t* pt = t.data<int32_t>();
  Tensor per_sample = Tensor::empty({n});
  float* ps = per_sample.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    INTRAIN_CHECK(pt[i] >= 0 && pt[i] < classes, "nll_loss: target ", pt[i], " at position ", i,
                  " is outside [0, ", classes, ")");
    ps[i] = -pl[i * classes + pt[i]];
  }
  Tensor out;
  if (reduction == Reduction::none) {
    out = per_sample;
  } else {
    NoGradGuard no_grad;
    out = reduction == Reduction::sum ? sum(per_sample) : mean(per_sample);
  }
  const float scale = reduction == Reduction::mean ? 1.0f / static_cast<float>(n) : 1.0f;
  return record(out, "nll_loss", {log_probs}, [=](const Tensor& g_in) {
    Tensor grad = Tensor::zeros({n, classes});
    Tensor g = g_in.contiguous();
    const float* pg = g.data<float>();
    float* o = grad.data<float>();
    const int32_t* labels = t.data<int32_t>();  // t is captured, so the labels stay alive
    for (int64_t i = 0; i < n; ++i)
      o[i * classes + labels[i]] = -scale * (reduction == Reduction::none ? pg[i] : pg[0]);
    return std::vector<Tensor>{grad};
  });
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction) {
  return nll_loss(log_softmax(logits, 1), target, reduction);
}

}  // namespace intrain
