#include "core/kernels/pool.hpp"

#include <algorithm>

#include "core/threads.hpp"

namespace intrain::kernels {

namespace {

// Calls f(plane, out_index, y0, y1, x0, x1) with the window clipped to the input.
template <class F>
void for_each_window(const Pool2dParams& p, F&& f) {
  const int64_t oh = p.out_h(), ow = p.out_w();
  parallel_for(p.planes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane)
      for (int64_t oy = 0; oy < oh; ++oy) {
        const int64_t y0 = oy * p.stride_h - p.pad_h;
        const int64_t ya = std::max<int64_t>(y0, 0), yb = std::min(y0 + p.kernel_h, p.in_h);
        for (int64_t ox = 0; ox < ow; ++ox) {
          const int64_t x0 = ox * p.stride_w - p.pad_w;
          const int64_t xa = std::max<int64_t>(x0, 0), xb = std::min(x0 + p.kernel_w, p.in_w);
          f(plane, (plane * oh + oy) * ow + ox, ya, yb, xa, xb);
        }
      }
  });
}

}  // namespace

namespace {

// The 2x2, stride 2, unpadded case (LeNet, most CNNs): four loads per output and no window
// clipping. Same results as the general loop: the first maximum wins, NaN propagates.
void max_pool2d_2x2(const Pool2dParams& p, const float* x, float* y, int32_t* argmax) {
  const int64_t oh = p.out_h(), ow = p.out_w();
  parallel_for(p.planes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const float* in = x + plane * p.in_h * p.in_w;
      float* out = y + plane * oh * ow;
      int32_t* arg = argmax + plane * oh * ow;
      for (int64_t oy = 0; oy < oh; ++oy) {
        const float* r0 = in + 2 * oy * p.in_w;
        const float* r1 = r0 + p.in_w;
        for (int64_t ox = 0; ox < ow; ++ox) {
          const int32_t base = static_cast<int32_t>(2 * oy * p.in_w + 2 * ox);
          const float v[4] = {r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]};
          const int32_t at[4] = {base, base + 1, base + static_cast<int32_t>(p.in_w), base + static_cast<int32_t>(p.in_w) + 1};
          int best = 0;
          for (int k = 1; k < 4; ++k)
            if (v[k] > v[best] || (v[k] != v[k] && v[best] == v[best])) best = k;
          out[oy * ow + ox] = v[best];
          arg[oy * ow + ox] = at[best];
        }
      }
    }
  });
}

}  // namespace

void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y, int32_t* argmax) {
  if (p.kernel_h == 2 && p.kernel_w == 2 && p.stride_h == 2 && p.stride_w == 2 && p.pad_h == 0 && p.pad_w == 0)
    return max_pool2d_2x2(p, x, y, argmax);
  for_each_window(p, [&](int64_t plane, int64_t o, int64_t ya, int64_t yb, int64_t xa, int64_t xb) {
    const float* in = x + plane * p.in_h * p.in_w;
    int64_t best = ya * p.in_w + xa;
    for (int64_t iy = ya; iy < yb; ++iy)
      for (int64_t ix = xa; ix < xb; ++ix) {
        const float v = in[iy * p.in_w + ix];
        if (v > in[best] || (v != v && in[best] == in[best])) best = iy * p.in_w + ix;
      }
    y[o] = in[best];
    argmax[o] = static_cast<int32_t>(best);
  });
}

void max_pool2d_backward(const Pool2dParams& p, const float* dy, const int32_t* argmax, float* dx) {
  const int64_t plane_in = p.in_h * p.in_w, plane_out = p.out_h() * p.out_w();
  parallel_for(p.planes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      float* d = dx + plane * plane_in;
      std::fill_n(d, plane_in, 0.0f);
      for (int64_t o = plane * plane_out; o < (plane + 1) * plane_out; ++o) d[argmax[o]] += dy[o];
    }
  });
}

void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y) {
  const float inv = 1.0f / static_cast<float>(p.kernel_h * p.kernel_w);
  for_each_window(p, [&](int64_t plane, int64_t o, int64_t ya, int64_t yb, int64_t xa, int64_t xb) {
    const float* in = x + plane * p.in_h * p.in_w;
    float s = 0;
    for (int64_t iy = ya; iy < yb; ++iy)
      for (int64_t ix = xa; ix < xb; ++ix) s += in[iy * p.in_w + ix];
    y[o] = s * inv;
  });
}

void avg_pool2d_backward(const Pool2dParams& p, const float* dy, float* dx) {
  const float inv = 1.0f / static_cast<float>(p.kernel_h * p.kernel_w);
  const int64_t plane_in = p.in_h * p.in_w;
  parallel_for(p.planes, 1, [&](int64_t begin, int64_t end) {
    std::fill(dx + begin * plane_in, dx + end * plane_in, 0.0f);
  });
  for_each_window(p, [&](int64_t plane, int64_t o, int64_t ya, int64_t yb, int64_t xa, int64_t xb) {
    float* d = dx + plane * plane_in;
    const float g = dy[o] * inv;
    for (int64_t iy = ya; iy < yb; ++iy)
      for (int64_t ix = xa; ix < xb; ++ix) d[iy * p.in_w + ix] += g;
  });
}

}  // namespace intrain::kernels
