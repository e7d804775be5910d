#pragma once
// The window walk every max-pooling kernel shares (reference, AVX2, AVX-512): for each output
// pixel of rows [oy_begin, oy_end), the input rows [ya, yb) and columns [xa, xb) its window
// covers inside the image, and where its channels go. The kernels differ only in how they
// take the maximum over that window. In an anonymous namespace: the SIMD files include it
// under their own -m flags, and each must keep its own copy (see simd_avx2.hpp).
#include <cstdint>

namespace intrain::int8 {
namespace {

struct PoolWindow {
  int64_t ya, yb, xa, xb;  // input rows [ya, yb) and columns [xa, xb)
};

// f(window, y) with y the output pixel's `channels` codes. The kernels' f capture by value:
// their byte stores may alias whatever a reference capture reaches.
template <class F>
void for_each_pool_window(int64_t height, int64_t width, int64_t channels, int64_t kernel, int64_t stride,
                          int64_t padding, int64_t out_w, int64_t oy_begin, int64_t oy_end, uint8_t* out, F&& f) {
  for (int64_t oy = oy_begin; oy < oy_end; ++oy) {
    const int64_t iy0 = oy * stride - padding;
    const int64_t ya = iy0 < 0 ? 0 : iy0, yb = iy0 + kernel < height ? iy0 + kernel : height;
    for (int64_t ox = 0; ox < out_w; ++ox) {
      const int64_t ix0 = ox * stride - padding;
      const int64_t xa = ix0 < 0 ? 0 : ix0, xb = ix0 + kernel < width ? ix0 + kernel : width;
      f(PoolWindow{ya, yb, xa, xb}, out + (oy * out_w + ox) * channels);
    }
  }
}

}  // namespace
}  // namespace intrain::int8
