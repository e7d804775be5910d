// Broadcasting binary ops and pointwise unary ops, forward and backward.
#include <cmath>

#include "core/autograd.hpp"
#include "core/kernels/elementwise.hpp"
#include "core/kernels/elementwise_scalar_ops.hpp"
#include "core/ops.hpp"
#include "core/ops/op_checks.hpp"

namespace intrain {

using kernels::BinaryOp;
using kernels::UnaryOp;
using kernels::elementwise;

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    INTRAIN_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
                  " cannot broadcast (dimension ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor sum_to(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  const size_t lead = t.shape().size() - shape.size();
  std::vector<int64_t> dims;
  for (size_t i = 0; i < t.shape().size(); ++i)
    if (i < lead || (shape[i - lead] == 1 && t.shape()[i] != 1)) dims.push_back(static_cast<int64_t>(i));
  return sum(t, dims, /*keepdim=*/true).reshape(shape);
}

namespace {

// Strides of `t` seen in `out_shape`'s index space: 0 along broadcast dimensions.
Shape broadcast_strides(const Tensor& t, const Shape& out_shape) {
  Shape strides(out_shape.size(), 0);
  const size_t lead = out_shape.size() - t.shape().size();
  for (size_t i = 0; i < t.shape().size(); ++i)
    strides[lead + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return strides;
}

// True when `small` (left-padded with ones) equals the trailing dimensions of `shape`
// and is 1 everywhere before them: b repeats along the leading dimensions of a.
bool is_row_broadcast(const Shape& small, const Shape& shape, int64_t& inner) {
  if (small.size() > shape.size()) return false;
  const size_t lead = shape.size() - small.size();
  size_t first = 0;
  while (first < small.size() && small[first] == 1) ++first;
  for (size_t i = first; i < small.size(); ++i)
    if (small[i] != shape[lead + i]) return false;
  inner = 1;
  for (size_t i = lead + first; i < shape.size(); ++i) inner *= shape[i];
  return true;
}

Tensor binary_forward(BinaryOp op, const char* name, const Tensor& a_in, const Tensor& b_in) {
  detail::check_defined_f32(a_in, name, "first operand");
  detail::check_defined_f32(b_in, name, "second operand");
  const Shape out_shape = broadcast_shapes(a_in.shape(), b_in.shape(), name);
  Tensor out = Tensor::uninitialized(out_shape);
  float* o = out.data<float>();
  const auto& k = elementwise();
  int64_t inner = 0;
  if (a_in.shape() == b_in.shape() || (a_in.numel() == b_in.numel() && a_in.shape() == out_shape &&
                                       a_in.is_contiguous() && b_in.is_contiguous())) {
    Tensor a = a_in.contiguous(), b = b_in.contiguous();
    const float *pa = a.data<float>(), *pb = b.data<float>();
    detail::for_chunks(out.numel(), [&](int64_t s, int64_t e) { k.binary(op, pa + s, pb + s, o + s, e - s); });
  } else if (b_in.numel() == 1) {
    Tensor a = a_in.contiguous();
    const float* pa = a.data<float>();
    const float sv = b_in.item<float>();
    detail::for_chunks(out.numel(), [&](int64_t s, int64_t e) { k.binary_scalar(op, pa + s, sv, o + s, e - s); });
  } else if (a_in.numel() == 1) {
    Tensor b = b_in.contiguous();
    const float* pb = b.data<float>();
    const float sv = a_in.item<float>();
    detail::for_chunks(out.numel(), [&](int64_t s, int64_t e) { k.scalar_binary(op, sv, pb + s, o + s, e - s); });
  } else if (a_in.shape() == out_shape && is_row_broadcast(b_in.shape(), out_shape, inner)) {
    Tensor a = a_in.contiguous(), b = b_in.contiguous();
    const float *pa = a.data<float>(), *pb = b.data<float>();
    parallel_for(out.numel() / inner, std::max<int64_t>(1, (1 << 14) / inner), [&](int64_t s, int64_t e) {
      for (int64_t r = s; r < e; ++r) k.binary(op, pa + r * inner, pb, o + r * inner, inner);
    });
  } else {
    // General broadcast: walk the output in row-major order with each operand's strides.
    const Shape sa = broadcast_strides(a_in, out_shape), sb = broadcast_strides(b_in, out_shape);
    const float *pa = a_in.data<float>(), *pb = b_in.data<float>();
    const size_t rank = out_shape.size();
    std::vector<int64_t> index(rank, 0);
    int64_t oa = 0, ob = 0;
    const int64_t n_inner = out_shape[rank - 1];
    for (int64_t pos = 0, pos_end = out.numel(); pos < pos_end; pos += n_inner) {
      for (int64_t i = 0; i < n_inner; ++i)
        o[pos + i] = kernels::apply_binary(op, pa[oa + i * sa[rank - 1]], pb[ob + i * sb[rank - 1]]);
      for (size_t d = rank - 1; d-- > 0;) {
        oa += sa[d];
        ob += sb[d];
        if (++index[d] < out_shape[d]) break;
        oa -= sa[d] * out_shape[d];
        ob -= sb[d] * out_shape[d];
        index[d] = 0;
      }
    }
  }
  return out;
}

Tensor unary_forward(UnaryOp op, const char* name, const Tensor& x_in) {
  detail::check_defined_f32(x_in, name, "input");
  Tensor x = x_in.contiguous();
  Tensor out = Tensor::uninitialized(x.shape());
  const float* px = x.data<float>();
  float* o = out.data<float>();
  const auto& k = elementwise();
  detail::for_chunks(x.numel(), [&](int64_t s, int64_t e) { k.unary(op, px + s, o + s, e - s); });
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::add, "add", a, b);
  Shape sa = a.shape(), sb = b.shape();
  return record(out, "add", {a, b}, [sa, sb](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(g, sb)};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::sub, "sub", a, b);
  Shape sa = a.shape(), sb = b.shape();
  return record(out, "sub", {a, b}, [sa, sb](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(neg(g), sb)};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::mul, "mul", a, b);
  Tensor ad = a.detach(), bd = b.detach();
  bool ga = a.requires_grad(), gb = b.requires_grad();
  return record(out, "mul", {a, b}, [=](const Tensor& g) {
    return std::vector<Tensor>{ga ? sum_to(mul(g, bd), ad.shape()) : Tensor(),
                               gb ? sum_to(mul(g, ad), bd.shape()) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::div, "div", a, b);
  Tensor bd = b.detach(), qd = out.detach();
  Shape sa = a.shape();
  bool ga = a.requires_grad(), gb = b.requires_grad();
  return record(out, "div", {a, b}, [=](const Tensor& g) {
    Tensor g_over_b = div(g, bd);
    return std::vector<Tensor>{ga ? sum_to(g_over_b, sa) : Tensor(),
                               gb ? sum_to(neg(mul(g_over_b, qd)), bd.shape()) : Tensor()};
  });
}

Tensor add(const Tensor& a, float s) {
  Tensor out = binary_forward(BinaryOp::add, "add", a, Tensor::scalar(s));
  return record(out, "add", {a}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor mul(const Tensor& a, float s) {
  Tensor out = binary_forward(BinaryOp::mul, "mul", a, Tensor::scalar(s));
  return record(out, "mul", {a}, [s](const Tensor& g) { return std::vector<Tensor>{mul(g, s)}; });
}

Tensor neg(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::neg, "neg", x);
  return record(out, "neg", {x}, [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
}

Tensor exp(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::exp, "exp", x);
  Tensor y = out.detach();
  return record(out, "exp", {x}, [y](const Tensor& g) { return std::vector<Tensor>{mul(g, y)}; });
}

Tensor log(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::log, "log", x);
  Tensor xd = x.detach();
  return record(out, "log", {x}, [xd](const Tensor& g) { return std::vector<Tensor>{div(g, xd)}; });
}

Tensor sqrt(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::sqrt, "sqrt", x);
  Tensor y = out.detach();
  return record(out, "sqrt", {x}, [y](const Tensor& g) {
    return std::vector<Tensor>{div(mul(g, 0.5f), y)};
  });
}

Tensor abs(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::abs, "abs", x);
  Tensor xd = x.detach();
  return record(out, "abs", {x}, [xd](const Tensor& g) {
    Tensor sign = Tensor::empty(xd.shape());
    Tensor xc = xd.contiguous();
    const float* px = xc.data<float>();
    float* ps = sign.data<float>();
    for (int64_t i = 0, i_end = xc.numel(); i < i_end; ++i) ps[i] = px[i] > 0 ? 1.0f : (px[i] < 0 ? -1.0f : 0.0f);
    return std::vector<Tensor>{mul(g, sign)};
  });
}

Tensor pow(const Tensor& x_in, float exponent) {
  detail::check_defined_f32(x_in, "pow", "input");
  Tensor out;
  if (exponent == 2.0f) {
    out = binary_forward(BinaryOp::mul, "pow", x_in, x_in);
  } else if (exponent == 0.5f) {
    out = unary_forward(UnaryOp::sqrt, "pow", x_in);
  } else {
    Tensor x = x_in.contiguous();
    out = Tensor::empty(x.shape());
    const float* px = x.data<float>();
    float* o = out.data<float>();
    detail::for_chunks(x.numel(), [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) o[i] = std::pow(px[i], exponent);
    });
  }
  Tensor xd = x_in.detach();
  return record(out, "pow", {x_in}, [xd, exponent](const Tensor& g) {
    return std::vector<Tensor>{mul(mul(g, pow(xd, exponent - 1.0f)), exponent)};
  });
}

}  // namespace intrain
