#include <cstddef>
#include <cstring>

#include "int8/kernels.hpp"
#include "int8/requantize.hpp"

namespace intrain::int8 {

void conv2d_acc_reference(const ConvShape& s, const uint8_t* x, int32_t zp, const int8_t* w, const int32_t* bias,
                          int32_t* acc) {
  const int64_t oh = s.out_h(), ow = s.out_w();
  const int64_t icg = s.channels / s.groups, ocg = s.out_channels / s.groups;
  for (int64_t oc = 0; oc < s.out_channels; ++oc) {
    const int64_t g = oc / ocg;
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        int32_t sum = bias[oc];
        for (int64_t ic = 0; ic < icg; ++ic)
          for (int64_t ky = 0; ky < s.kernel; ++ky) {
            const int64_t iy = oy * s.stride - s.padding + ky;
            if (iy < 0 || iy >= s.height) continue;
            for (int64_t kx = 0; kx < s.kernel; ++kx) {
              const int64_t ix = ox * s.stride - s.padding + kx;
              if (ix < 0 || ix >= s.width) continue;
              const int32_t xv = x[((g * icg + ic) * s.height + iy) * s.width + ix];
              sum += (xv - zp) * w[((oc * icg + ic) * s.kernel + ky) * s.kernel + kx];
            }
          }
        acc[(oc * oh + oy) * ow + ox] = sum;
      }
  }
}

void linear_acc_reference(int64_t rows, int64_t in, int64_t out, const uint8_t* x, int32_t zp, const int8_t* w,
                          const int32_t* bias, int32_t* acc) {
  for (int64_t m = 0; m < rows; ++m)
    for (int64_t o = 0; o < out; ++o) {
      int32_t sum = bias[o];
      for (int64_t k = 0; k < in; ++k) sum += (static_cast<int32_t>(x[m * in + k]) - zp) * w[o * in + k];
      acc[m * out + o] = sum;
    }
}

void requantize_row_reference(const int32_t* acc, int64_t n, int32_t multiplier, int32_t shift, int32_t zp,
                              int32_t lo, int32_t hi, uint8_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = requantize(acc[i], {multiplier, shift}, zp, lo, hi);
}

RowWeights pack_weights_rows(const int8_t* w, int64_t out, int64_t k, const int32_t* bias, int32_t zp) {
  RowWeights p;
  p.out = out;
  p.k = k;
  p.k_padded = (k + 3) / 4 * 4;
  p.data.assign(static_cast<size_t>(out * p.k_padded), 0);
  p.bias.assign(static_cast<size_t>(out), 0);
  for (int64_t o = 0; o < out; ++o) {
    int32_t row_sum = 0;
    for (int64_t j = 0; j < k; ++j) {
      p.data[static_cast<size_t>(o * p.k_padded + j)] = w[o * k + j];
      row_sum += w[o * k + j];
    }
    p.bias[static_cast<size_t>(o)] = bias[o] - zp * row_sum;
  }
  return p;
}

void interleave_channels(const uint8_t* x, int64_t channels, int64_t height, int64_t width, int32_t zp, uint8_t* out) {
  const int64_t plane = height * width, groups = (channels + 3) / 4;
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t i = 0; i < plane; ++i)
      for (int64_t c = 0; c < 4; ++c) {
        const int64_t ch = 4 * g + c;
        out[(g * plane + i) * 4 + c] = ch < channels ? x[ch * plane + i] : static_cast<uint8_t>(zp);
      }
}

RowWeights pack_weights_rows_interleaved(const int8_t* w, int64_t out, int64_t channels, int64_t kernel,
                                         const int32_t* bias, int32_t zp) {
  RowWeights p;
  const int64_t groups = (channels + 3) / 4, taps = kernel * kernel;
  p.out = out;
  p.k = channels * taps;
  p.k_padded = groups * taps * 4;
  p.data.assign(static_cast<size_t>(out * p.k_padded), 0);
  p.bias.assign(static_cast<size_t>(out), 0);
  for (int64_t o = 0; o < out; ++o) {
    int32_t row_sum = 0;
    for (int64_t ch = 0; ch < channels; ++ch)
      for (int64_t t = 0; t < taps; ++t) {
        const int8_t v = w[(o * channels + ch) * taps + t];
        row_sum += v;
        p.data[static_cast<size_t>(o * p.k_padded + ((ch / 4) * taps + t) * 4 + ch % 4)] = v;
      }
    p.bias[static_cast<size_t>(o)] = bias[o] - zp * row_sum;
  }
  return p;
}

void im2col_interleaved(const uint8_t* xi, int64_t channel_groups, int64_t height, int64_t width, int64_t kernel,
                               int64_t stride, int64_t padding, int64_t out_h, int64_t out_w, int32_t zp,
                               int64_t pixels_padded, uint8_t* cols) {
  // Column row for k-quad (g, ky, kx) holds, for each pixel, the 32-bit word
  // xi[g][oy·stride − padding + ky][ox·stride − padding + kx].
  const int64_t quads = channel_groups * kernel * kernel, pixels = out_h * out_w;
  const auto pad = static_cast<uint8_t>(zp);
  auto* words = reinterpret_cast<uint32_t*>(cols);
  uint32_t pad_word;
  std::memset(&pad_word, pad, 4);
  const uint32_t* in = reinterpret_cast<const uint32_t*>(xi);
  for (int64_t q = 0; q < quads; ++q) {
    const int64_t g = q / (kernel * kernel), ky = (q / kernel) % kernel, kx = q % kernel;
    uint32_t* row = words + q * pixels_padded;
    for (int64_t p = pixels; p < pixels_padded; ++p) row[p] = pad_word;
    const uint32_t* plane = in + g * height * width;
    for (int64_t oy = 0; oy < out_h; ++oy) {
      uint32_t* d = row + oy * out_w;
      const int64_t iy = oy * stride - padding + ky;
      if (iy < 0 || iy >= height) {
        for (int64_t ox = 0; ox < out_w; ++ox) d[ox] = pad_word;
        continue;
      }
      const uint32_t* src = plane + iy * width;
      if (stride == 1) {
        const int64_t lo = padding - kx > 0 ? padding - kx : 0;
        const int64_t hi = out_w < width + padding - kx ? out_w : width + padding - kx;
        for (int64_t ox = 0; ox < lo; ++ox) d[ox] = pad_word;
        if (hi > lo) std::memcpy(d + lo, src + lo - padding + kx, static_cast<size_t>(hi - lo) * 4);
        for (int64_t ox = hi > lo ? hi : lo; ox < out_w; ++ox) d[ox] = pad_word;
      } else {
        for (int64_t ox = 0; ox < out_w; ++ox) {
          const int64_t ix = ox * stride - padding + kx;
          d[ox] = ix >= 0 && ix < width ? src[ix] : pad_word;
        }
      }
    }
  }
}

void im2col_k4(const uint8_t* x, int64_t channels, int64_t height, int64_t width, int64_t kernel, int64_t stride,
               int64_t padding, int64_t out_h, int64_t out_w, int32_t zp, int64_t k_padded, int64_t pixels_padded,
               uint8_t* cols) {
  std::memset(cols, static_cast<uint8_t>(zp), static_cast<size_t>(k_padded * pixels_padded));
  int64_t k = 0;
  for (int64_t ic = 0; ic < channels; ++ic)
    for (int64_t ky = 0; ky < kernel; ++ky)
      for (int64_t kx = 0; kx < kernel; ++kx, ++k) {
        uint8_t* dst = cols + (k / 4) * pixels_padded * 4 + k % 4;
        for (int64_t oy = 0; oy < out_h; ++oy) {
          const int64_t iy = oy * stride - padding + ky;
          if (iy < 0 || iy >= height) continue;
          for (int64_t ox = 0; ox < out_w; ++ox) {
            const int64_t ix = ox * stride - padding + kx;
            if (ix >= 0 && ix < width) dst[(oy * out_w + ox) * 4] = x[(ic * height + iy) * width + ix];
          }
        }
      }
}

PackedWeights pack_weights(const int8_t* w, int64_t out, int64_t k, const int32_t* bias, int32_t zp) {
  PackedWeights p;
  p.out = out;
  p.k = k;
  p.k_padded = (k + 3) / 4 * 4;
  const int64_t blocks = (out + 15) / 16;
  p.data.assign(static_cast<size_t>(blocks * p.k_padded * 16), 0);
  p.bias.assign(static_cast<size_t>(out), 0);
  for (int64_t o = 0; o < out; ++o) {
    int32_t row_sum = 0;
    for (int64_t j = 0; j < k; ++j) {
      const int8_t v = w[o * k + j];
      row_sum += v;
      // block o/16, k-group j/4, lane o%16, byte j%4
      p.data[static_cast<size_t>(((o / 16) * (p.k_padded / 4) + j / 4) * 64 + (o % 16) * 4 + j % 4)] = v;
    }
    p.bias[static_cast<size_t>(o)] = bias[o] - zp * row_sum;
  }
  return p;
}

}  // namespace intrain::int8
