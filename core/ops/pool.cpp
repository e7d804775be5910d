// max_pool2d, avg_pool2d and global average pooling, forward and backward.
#include "core/autograd.hpp"
#include "core/kernels/pool.hpp"
#include "core/ops.hpp"
#include "core/ops/op_checks.hpp"

namespace intrain {

namespace {

kernels::Pool2dParams pool_params(const Tensor& x, const Pool2dOptions& o, const char* op) {
  detail::check_defined_f32(x, op, "input");
  detail::check_rank(x, 4, op, "input", "[N, C, H, W]");
  kernels::Pool2dParams p{x.size(0) * x.size(1), x.size(2), x.size(3), o.kernel_h, o.kernel_w,
                          o.stride_h ? o.stride_h : o.kernel_h, o.stride_w ? o.stride_w : o.kernel_w,
                          o.pad_h, o.pad_w};
  INTRAIN_CHECK(p.kernel_h >= 1 && p.kernel_w >= 1 && p.stride_h >= 1 && p.stride_w >= 1 && p.pad_h >= 0 &&
                    p.pad_w >= 0,
                op, ": invalid kernel ", p.kernel_h, "x", p.kernel_w, ", stride ", p.stride_h, "x",
                p.stride_w, " or padding ", p.pad_h, "x", p.pad_w);
  // As PyTorch: padding at most half the kernel, so every window holds an input element.
  INTRAIN_CHECK(2 * p.pad_h <= p.kernel_h && 2 * p.pad_w <= p.kernel_w, op, ": padding ", p.pad_h, "x",
                p.pad_w, " exceeds half the kernel ", p.kernel_h, "x", p.kernel_w);
  INTRAIN_CHECK(p.in_h + 2 * p.pad_h >= p.kernel_h && p.in_w + 2 * p.pad_w >= p.kernel_w, op, ": input ",
                shape_str(x.shape()), " is smaller than the kernel ", p.kernel_h, "x", p.kernel_w);
  return p;
}

}  // namespace

Tensor max_pool2d(const Tensor& x_in, const Pool2dOptions& options) {
  const kernels::Pool2dParams p = pool_params(x_in, options, "max_pool2d");
  Tensor x = x_in.contiguous();
  const Shape out_shape{x.size(0), x.size(1), p.out_h(), p.out_w()};
  Tensor out = Tensor::uninitialized(out_shape);
  Tensor argmax = Tensor::empty(out_shape, DType::i32);
  kernels::max_pool2d_forward(p, x.data<float>(), out.data<float>(), argmax.data<int32_t>());
  const Shape in_shape = x.shape();
  return record(out, "max_pool2d", {x_in}, [p, argmax, in_shape](const Tensor& g_in) {
    Tensor g = g_in.contiguous(), dx = Tensor::empty(in_shape);
    kernels::max_pool2d_backward(p, g.data<float>(), argmax.data<int32_t>(), dx.data<float>());
    return std::vector<Tensor>{dx};
  });
}

Tensor avg_pool2d(const Tensor& x_in, const Pool2dOptions& options) {
  const kernels::Pool2dParams p = pool_params(x_in, options, "avg_pool2d");
  Tensor x = x_in.contiguous();
  Tensor out = Tensor::uninitialized({x.size(0), x.size(1), p.out_h(), p.out_w()});
  kernels::avg_pool2d_forward(p, x.data<float>(), out.data<float>());
  const Shape in_shape = x.shape();
  return record(out, "avg_pool2d", {x_in}, [p, in_shape](const Tensor& g_in) {
    Tensor g = g_in.contiguous(), dx = Tensor::empty(in_shape);
    kernels::avg_pool2d_backward(p, g.data<float>(), dx.data<float>());
    return std::vector<Tensor>{dx};
  });
}

Tensor global_avg_pool2d(const Tensor& x) {
  detail::check_defined_f32(x, "global_avg_pool2d", "input");
  detail::check_rank(x, 4, "global_avg_pool2d", "input", "[N, C, H, W]");
  INTRAIN_CHECK(x.size(2) * x.size(3) > 0, "global_avg_pool2d: input ", shape_str(x.shape()),
                " has an empty plane");
  return mean(x, {2, 3}, /*keepdim=*/true);
}

}  // namespace intrain
