// conv2d: shape checks, then oneDNN forward, backward-data and backward-weights.
#include "core/autograd.hpp"
#include "core/compute_precision.hpp"
#include "core/kernels/conv.hpp"
#include "core/ops.hpp"
#include "core/ops/op_checks.hpp"

namespace intrain {

namespace {

kernels::Conv2dParams conv_params(const Tensor& x, const Tensor& w, const Conv2dOptions& o) {
  detail::check_defined_f32(x, "conv2d", "input");
  detail::check_defined_f32(w, "conv2d", "weight");
  detail::check_rank(x, 4, "conv2d", "input", "[N, C, H, W]");
  detail::check_rank(w, 4, "conv2d", "weight", "[C_out, C_in/groups, KH, KW]");
  INTRAIN_CHECK(o.groups >= 1 && o.stride_h >= 1 && o.stride_w >= 1 && o.dilation_h >= 1 &&
                    o.dilation_w >= 1 && o.pad_h >= 0 && o.pad_w >= 0,
                "conv2d: invalid options (stride ", o.stride_h, "x", o.stride_w, ", padding ", o.pad_h,
                "x", o.pad_w, ", dilation ", o.dilation_h, "x", o.dilation_w, ", groups ", o.groups, ")");
  INTRAIN_CHECK(x.size(1) % o.groups == 0 && w.size(0) % o.groups == 0, "conv2d: ", x.size(1),
                " input and ", w.size(0), " output channels are not both divisible by groups = ", o.groups);
  INTRAIN_CHECK(w.size(1) * o.groups == x.size(1), "conv2d: weight ", shape_str(w.shape()), " expects ",
                w.size(1) * o.groups, " input channels (with groups = ", o.groups, "), input ",
                shape_str(x.shape()), " has ", x.size(1));
  kernels::Conv2dParams p{x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), w.size(2), w.size(3),
                          o.stride_h, o.stride_w, o.pad_h, o.pad_w, o.dilation_h, o.dilation_w, o.groups};
  INTRAIN_CHECK(p.out_h() >= 1 && p.out_w() >= 1, "conv2d: input ", shape_str(x.shape()),
                " is smaller than the dilated kernel ", shape_str(w.shape()), " with padding ", o.pad_h,
                "x", o.pad_w, " (output would be ", p.out_h(), "x", p.out_w(), ")");
  INTRAIN_CHECK(p.batch >= 1 && p.in_channels >= 1 && p.out_channels >= 1, "conv2d: empty input ",
                shape_str(x.shape()), " or weight ", shape_str(w.shape()));
  return p;
}

}  // namespace

Tensor conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& bias_in, const Conv2dOptions& options) {
  const bool needs_grad = grad_enabled() && (x_in.requires_grad() || w_in.requires_grad() ||
                                             (bias_in.defined() && bias_in.requires_grad()));
  if (options.activation != kernels::ConvActivation::none && needs_grad) {  // differentiable: separate ops
    Conv2dOptions plain = options;
    plain.activation = kernels::ConvActivation::none;
    const Tensor y = conv2d(x_in, w_in, bias_in, plain);
    return options.activation == kernels::ConvActivation::relu ? relu(y) : relu6(y);
  }
  kernels::Conv2dParams p = conv_params(x_in, w_in, options);
  p.activation = options.activation;
  p.bf16 = compute_precision() == ComputePrecision::bf16;
  if (bias_in.defined()) {
    detail::check_defined_f32(bias_in, "conv2d", "bias");
    INTRAIN_CHECK(bias_in.dim() == 1 && bias_in.size(0) == p.out_channels, "conv2d: bias ",
                  shape_str(bias_in.shape()), " does not match ", p.out_channels, " output channels");
  }
  Tensor x = x_in.contiguous().detach(), w = w_in.contiguous().detach();
  Tensor bias = bias_in.defined() ? bias_in.contiguous().detach() : Tensor();
  Tensor out = Tensor::uninitialized({p.batch, p.out_channels, p.out_h(), p.out_w()});
  kernels::conv2d_forward_onednn(p, x.data<float>(), w.data<float>(),
                                 bias.defined() ? bias.data<float>() : nullptr, out.data<float>());
  const bool gx = x_in.requires_grad(), gw = w_in.requires_grad();
  const bool gb = bias_in.defined() && bias_in.requires_grad();
  return record(out, "conv2d", {x_in, w_in, bias_in}, [=](const Tensor& g_in) {
    Tensor g = g_in.contiguous();
    std::vector<Tensor> grads(3);
    if (gx) {
      grads[0] = Tensor::uninitialized(x.shape());  // written whole by oneDNN
      kernels::conv2d_backward_data_onednn(p, w.data<float>(), g.data<float>(), grads[0].data<float>());
    }
    if (gw || gb) {
      Tensor dw = Tensor::uninitialized(w.shape());
      Tensor db = gb ? Tensor::uninitialized({p.out_channels}) : Tensor();
      float* pdb = gb ? db.data<float>() : nullptr;
      if (kernels::depthwise_backward_weights_direct(p))
        kernels::conv2d_backward_weights_depthwise(p, x.data<float>(), g.data<float>(), dw.data<float>(), pdb);
      else
        kernels::conv2d_backward_weights_onednn(p, x.data<float>(), g.data<float>(), dw.data<float>(), pdb);
      if (gw) grads[1] = dw;
      grads[2] = db;
    }
    return grads;
  });
}

}  // namespace intrain
