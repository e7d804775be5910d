// matmul and linear on the routed sgemm. Transposed views are passed to the GEMM as
// transpose flags rather than copied, so the backward passes cost no extra copies.
#include "core/autograd.hpp"
#include "core/kernels/gemm.hpp"
#include "core/ops.hpp"
#include "core/ops/op_checks.hpp"

namespace intrain {

namespace {

struct GemmOperand {
  Tensor holder;  // keeps the memory alive
  const float* data;
  int64_t ld;
  bool trans;
};

// A 2-D f32 tensor as a GEMM operand: row-major, or column-major (a transposed view).
GemmOperand as_operand(const Tensor& t) {
  const Shape& st = t.strides();
  if (st[1] == 1 && st[0] >= std::max<int64_t>(1, t.size(1)))
    return {t, t.data<float>(), st[0], false};
  if (st[0] == 1 && st[1] >= std::max<int64_t>(1, t.size(0)))
    return {t, t.data<float>(), st[1], true};
  Tensor c = t.contiguous();
  return {c, c.data<float>(), std::max<int64_t>(1, c.size(1)), false};
}

// out[M,N] = alpha·a[M,K]·b[K,N] + beta·out, all 2-D (out contiguous).
void gemm_2d(const Tensor& a, const Tensor& b, Tensor& out, float beta) {
  GemmOperand oa = as_operand(a), ob = as_operand(b);
  kernels::GemmShape s{oa.trans, ob.trans, a.size(0), b.size(1), a.size(1), oa.ld, ob.ld,
                       std::max<int64_t>(1, out.size(1))};
  kernels::sgemm(s, 1.0f, oa.data, ob.data, beta, out.data<float>());
}

Tensor matmul_forward(const Tensor& a, const Tensor& b) {
  if (a.dim() == 2 && b.dim() == 2) {
    Tensor out = Tensor::empty({a.size(0), b.size(1)});
    gemm_2d(a, b, out, 0.0f);
    return out;
  }
  const int64_t batch = a.size(0);
  Tensor out = Tensor::empty({batch, a.size(1), b.size(-1)});
  for (int64_t i = 0; i < batch; ++i) {
    Tensor slice = out.narrow(0, i, 1).reshape({a.size(1), b.size(-1)});
    Tensor bi = b.dim() == 3 ? b.narrow(0, i, 1).squeeze(0) : b;
    gemm_2d(a.narrow(0, i, 1).squeeze(0), bi, slice, 0.0f);
  }
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  detail::check_defined_f32(a, "matmul", "first operand");
  detail::check_defined_f32(b, "matmul", "second operand");
  const bool ok_rank = (a.dim() == 2 && b.dim() == 2) || (a.dim() == 3 && (b.dim() == 2 || b.dim() == 3));
  INTRAIN_CHECK(ok_rank, "matmul: expected [M,K]·[K,N], [B,M,K]·[K,N] or [B,M,K]·[B,K,N], got ",
                shape_str(a.shape()), " and ", shape_str(b.shape()));
  INTRAIN_CHECK(a.size(-1) == b.size(-2), "matmul: inner dimensions differ: ", shape_str(a.shape()),
                " and ", shape_str(b.shape()));
  INTRAIN_CHECK(b.dim() == 2 || a.size(0) == b.size(0), "matmul: batch sizes differ: ",
                shape_str(a.shape()), " and ", shape_str(b.shape()));
  Tensor out;
  {
    NoGradGuard no_grad;  // the per-batch views below are plumbing, not graph
    out = matmul_forward(a.detach(), b.detach());
  }
  Tensor ad = a.detach(), bd = b.detach();
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  return record(out, "matmul", {a, b}, [=](const Tensor& g) {
    Tensor da, db;
    if (ga) da = matmul(g, bd.transpose(-1, -2));
    if (gb) {
      if (bd.dim() == 2 && ad.dim() == 3)  // b was shared by every batch entry
        db = matmul(ad.reshape({-1, ad.size(-1)}).t(), g.reshape({-1, g.size(-1)}));
      else
        db = matmul(ad.transpose(-1, -2), g);
    }
    return std::vector<Tensor>{da, db};
  });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  detail::check_defined_f32(x, "linear", "input");
  detail::check_defined_f32(weight, "linear", "weight");
  detail::check_rank(weight, 2, "linear", "weight", "[out_features, in_features]");
  INTRAIN_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), "linear: input ", shape_str(x.shape()),
                " does not end in in_features = ", weight.size(1), " of weight ", shape_str(weight.shape()));
  if (bias.defined()) {
    detail::check_defined_f32(bias, "linear", "bias");
    INTRAIN_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "linear: bias ",
                  shape_str(bias.shape()), " does not match out_features = ", weight.size(0));
  }
  const int64_t in = weight.size(1), out_features = weight.size(0);
  Tensor x2 = x.detach().reshape({-1, in});
  Tensor out = Tensor::empty({x2.size(0), out_features});
  float beta = 0.0f;
  if (bias.defined()) {  // seed every row with the bias, then accumulate the product on top
    Tensor bc = bias.contiguous();
    float* o = out.data<float>();
    for (int64_t r = 0; r < x2.size(0); ++r) std::copy_n(bc.data<float>(), out_features, o + r * out_features);
    beta = 1.0f;
  }
  gemm_2d(x2, weight.detach().t(), out, beta);
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
  out = out.reshape(out_shape);
  Tensor wd = weight.detach();
  const Shape x_shape = x.shape();
  const bool gx = x.requires_grad(), gw = weight.requires_grad();
  const bool gbias = bias.defined() && bias.requires_grad();
  return record(out, "linear", {x, weight, bias}, [=](const Tensor& g) {
    Tensor g2 = g.reshape({-1, out_features});
    std::vector<Tensor> grads(3);
    if (gx) grads[0] = matmul(g2, wd).reshape(x_shape);
    if (gw) grads[1] = matmul(g2.t(), x2);
    if (gbias) grads[2] = sum(g2, {0});
    return grads;
  });
}

}  // namespace intrain
