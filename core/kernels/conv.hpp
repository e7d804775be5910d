#pragma once
// 2-D convolution kernels, NCHW activations and [C_out, C_in/groups, KH, KW] weights
// (PyTorch's layouts). The oneDNN implementations are what ops use; the reference
// loops are their twins in tests.
#include <cstdint>

namespace intrain::kernels {

// An activation applied to the convolution's output inside the kernel (a oneDNN post-op),
// saving a pass over memory at inference.
enum class ConvActivation { none, relu, relu6 };

struct Conv2dParams {
  int64_t batch = 1, in_channels = 1, in_h = 1, in_w = 1;
  int64_t out_channels = 1, kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
  ConvActivation activation = ConvActivation::none;  // forward only
  // Mixed precision (core/compute_precision.hpp): inputs rounded to bf16, f32 accumulation
  // and output; always in oneDNN's blocked layout, where its bf16 kernels are.
  bool bf16 = false;

  int64_t out_h() const { return (in_h + 2 * pad_h - dilation_h * (kernel_h - 1) - 1) / stride_h + 1; }
  int64_t out_w() const { return (in_w + 2 * pad_w - dilation_w * (kernel_w - 1) - 1) / stride_w + 1; }
  int64_t flops() const {  // multiply-adds counted as two operations
    return 2 * batch * out_channels * out_h() * out_w() * (in_channels / groups) * kernel_h * kernel_w;
  }
};

enum class ConvPass { forward, backward_data, backward_weights };

// Which memory layout oneDNN computes in. The caller's memory is always plain NCHW; with
// `blocked` oneDNN picks its own layout (nChw16c and friends, where its jit kernels live)
// and the kernel reorders at the edges. `routed` takes what measured faster for the shape
// and pass in bench/bench_conv; INTRAIN_CONV_LAYOUT=plain|blocked forces one.
enum class ConvLayout { routed, plain, blocked };
ConvLayout choose_conv_layout(const Conv2dParams& p, ConvPass pass);
const char* conv_layout_name(ConvLayout layout);

// y = activation(conv(x, w) + bias) (bias may be null)
void conv2d_forward_onednn(const Conv2dParams& p, const float* x, const float* w, const float* bias, float* y,
                           ConvLayout layout = ConvLayout::routed);
// dx = gradient of the input from dy
void conv2d_backward_data_onednn(const Conv2dParams& p, const float* w, const float* dy, float* dx,
                                 ConvLayout layout = ConvLayout::routed);
// dw (and dbias when not null) from x and dy
void conv2d_backward_weights_onednn(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                                    float* dbias, ConvLayout layout = ConvLayout::routed);

void conv2d_forward_reference(const Conv2dParams& p, const float* x, const float* w, const float* bias, float* y);
// Depthwise backward weights as direct sums per channel (conv_depthwise.cpp), for the small
// output planes (16 positions or fewer) where oneDNN's fallback is a GEMM per image;
// depthwise_backward_weights_direct says whether p is such a shape.
bool depthwise_backward_weights_direct(const Conv2dParams& p);
void conv2d_backward_weights_depthwise(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                                       float* dbias);

void conv2d_backward_data_reference(const Conv2dParams& p, const float* w, const float* dy, float* dx);
void conv2d_backward_weights_reference(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                                       float* dbias);

}  // namespace intrain::kernels
