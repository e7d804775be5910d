#pragma once
// 2-D pooling kernels over NCHW planes. Windows are clipped to the input; max pooling
// records the flat in-plane index of each window's maximum for the backward pass.
#include <cstdint>

namespace intrain::kernels {

struct Pool2dParams {
  int64_t planes = 1, in_h = 1, in_w = 1;  // planes = N·C
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t out_h() const { return (in_h + 2 * pad_h - kernel_h) / stride_h + 1; }
  int64_t out_w() const { return (in_w + 2 * pad_w - kernel_w) / stride_w + 1; }
};

void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y, int32_t* argmax);
void max_pool2d_backward(const Pool2dParams& p, const float* dy, const int32_t* argmax, float* dx);
// Divides by the full window size, padding included (count_include_pad).
void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y);
void avg_pool2d_backward(const Pool2dParams& p, const float* dy, float* dx);

}  // namespace intrain::kernels
