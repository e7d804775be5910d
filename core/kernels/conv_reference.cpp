// Plain loops over the definition of a grouped, strided, padded, dilated convolution.
#include <algorithm>

#include "core/kernels/conv.hpp"

namespace intrain::kernels {

namespace {

// Calls f(n, oc, ic, oy, ox, ky, kx, x_index, w_index, y_index) for every term of the sum
// that lands inside the (unpadded) input.
template <class F>
void for_each_term(const Conv2dParams& p, F&& f) {
  const int64_t oh = p.out_h(), ow = p.out_w();
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  for (int64_t n = 0; n < p.batch; ++n)
    for (int64_t oc = 0; oc < p.out_channels; ++oc) {
      const int64_t g = oc / ocg;
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          const int64_t y_index = ((n * p.out_channels + oc) * oh + oy) * ow + ox;
          for (int64_t icl = 0; icl < icg; ++icl)
            for (int64_t ky = 0; ky < p.kernel_h; ++ky) {
              const int64_t iy = oy * p.stride_h - p.pad_h + ky * p.dilation_h;
              if (iy < 0 || iy >= p.in_h) continue;
              for (int64_t kx = 0; kx < p.kernel_w; ++kx) {
                const int64_t ix = ox * p.stride_w - p.pad_w + kx * p.dilation_w;
                if (ix < 0 || ix >= p.in_w) continue;
                const int64_t ic = g * icg + icl;
                const int64_t x_index = ((n * p.in_channels + ic) * p.in_h + iy) * p.in_w + ix;
                const int64_t w_index = ((oc * icg + icl) * p.kernel_h + ky) * p.kernel_w + kx;
                f(x_index, w_index, y_index);
              }
            }
        }
    }
}

}  // namespace

void conv2d_forward_reference(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                              float* y) {
  const int64_t plane = p.out_h() * p.out_w();
  for (int64_t n = 0; n < p.batch; ++n)
    for (int64_t oc = 0; oc < p.out_channels; ++oc)
      std::fill_n(y + (n * p.out_channels + oc) * plane, plane, bias ? bias[oc] : 0.0f);
  for_each_term(p, [&](int64_t xi, int64_t wi, int64_t yi) { y[yi] += x[xi] * w[wi]; });
}

void conv2d_backward_data_reference(const Conv2dParams& p, const float* w, const float* dy, float* dx) {
  std::fill_n(dx, p.batch * p.in_channels * p.in_h * p.in_w, 0.0f);
  for_each_term(p, [&](int64_t xi, int64_t wi, int64_t yi) { dx[xi] += dy[yi] * w[wi]; });
}

void conv2d_backward_weights_reference(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                                       float* dbias) {
  std::fill_n(dw, p.out_channels * (p.in_channels / p.groups) * p.kernel_h * p.kernel_w, 0.0f);
  for_each_term(p, [&](int64_t xi, int64_t wi, int64_t yi) { dw[wi] += dy[yi] * x[xi]; });
  if (!dbias) return;
  const int64_t plane = p.out_h() * p.out_w();
  for (int64_t oc = 0; oc < p.out_channels; ++oc) {
    float s = 0;
    for (int64_t n = 0; n < p.batch; ++n)
      for (int64_t i = 0; i < plane; ++i) s += dy[(n * p.out_channels + oc) * plane + i];
    dbias[oc] = s;
  }
}

}  // namespace intrain::kernels
