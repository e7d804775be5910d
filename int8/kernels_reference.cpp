#include <algorithm>
#include <cstddef>
#include <cstring>

#include "int8/kernels.hpp"
#include "int8/pool_windows.hpp"
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

void quantize_input_reference(const float* x, int64_t n, float scale, int32_t zero_point, uint8_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = quantize_input(x[i], scale, zero_point);
}

void requantize_channels_reference(const int32_t* acc, int64_t channels, const ChannelRequant& rq, uint8_t* out) {
  for (int64_t c = 0; c < channels; ++c)
    out[c] = requantize(acc[c], {rq.multiplier[c], rq.shift[c]}, rq.zero_point, rq.lo, rq.hi);
}

void add_reference(const uint8_t* a, const uint8_t* b, int64_t n, const AddParams& p, uint8_t* out) {
  const FixedPointMultiplier ma{p.multiplier[0], p.shift[0]}, mb{p.multiplier[1], p.shift[1]}, mo{p.multiplier[2], p.shift[2]};
  for (int64_t i = 0; i < n; ++i) {
    const int32_t x = multiply_by_quantized_multiplier((static_cast<int32_t>(a[i]) - p.a_zero_point) * (1 << 20), ma);
    const int32_t y = multiply_by_quantized_multiplier((static_cast<int32_t>(b[i]) - p.b_zero_point) * (1 << 20), mb);
    out[i] = requantize(x + y, mo, p.zero_point, p.lo, p.hi);
  }
}

void max_pool_nhwc_reference(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t kernel,
                             int64_t stride, int64_t padding, int64_t out_w, int64_t oy_begin, int64_t oy_end,
                             uint8_t* out) {
  for_each_pool_window(height, width, channels, kernel, stride, padding, out_w, oy_begin, oy_end, out,
                       [=](const PoolWindow& win, uint8_t* y) {
                         std::memset(y, 0, static_cast<size_t>(channels));
                         for (int64_t iy = win.ya; iy < win.yb; ++iy)
                           for (int64_t ix = win.xa; ix < win.xb; ++ix) {
                             const uint8_t* px = x + (iy * width + ix) * channels;
                             for (int64_t c = 0; c < channels; ++c) y[c] = std::max(y[c], px[c]);
                           }
                       });
}

bool vector_requantizable(const int32_t* multiplier, const int32_t* shift, int64_t channels) {
  for (int64_t c = 0; c < channels; ++c)
    if (multiplier[c] <= 0 || shift[c] < 0 || shift[c] > 30) return false;
  return true;
}

namespace {

// memcpy for the short runs im2col copies (a 5-byte kernel row of a one-channel image, 21 bytes of a
// 3-channel one):
// fixed-size, possibly overlapping moves instead of a library call per run.
inline void copy_run(uint8_t* dst, const uint8_t* src, int64_t n) {
  if (n >= 4 && n <= 8) {
    uint32_t a, b;
    std::memcpy(&a, src, 4);
    std::memcpy(&b, src + n - 4, 4);
    std::memcpy(dst, &a, 4);
    std::memcpy(dst + n - 4, &b, 4);
  } else if (n > 8 && n <= 16) {
    uint64_t a, b;
    std::memcpy(&a, src, 8);
    std::memcpy(&b, src + n - 8, 8);
    std::memcpy(dst, &a, 8);
    std::memcpy(dst + n - 8, &b, 8);
  } else if (n > 16 && n <= 32) {  // a 7-pixel row of a 3-channel image (ResNet's stem): 21 bytes
    uint64_t a[2], b[2];
    std::memcpy(a, src, 16);
    std::memcpy(b, src + n - 16, 16);
    std::memcpy(dst, a, 16);
    std::memcpy(dst + n - 16, b, 16);
  } else {
    std::memcpy(dst, src, static_cast<size_t>(n));
  }
}

}  // namespace

namespace {

// One output pixel's row, any position: runs of the window that lie inside the image copied,
// the rest the zero point.
void im2col_pixel(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t c_begin,
                  int64_t c_count, int64_t kernel, int64_t iy0, int64_t ix0, uint8_t pad, uint8_t* row) {
  const bool whole_rows = c_count == channels && ix0 >= 0 && ix0 + kernel <= width;
  for (int64_t ky = 0; ky < kernel; ++ky) {
    const int64_t iy = iy0 + ky;
    if (whole_rows && iy >= 0 && iy < height) {  // the (kx, c) run is contiguous in NHWC: one copy
      copy_run(row + ky * kernel * c_count, x + (iy * width + ix0) * channels, kernel * c_count);
      continue;
    }
    for (int64_t kx = 0; kx < kernel; ++kx) {
      uint8_t* dst = row + (ky * kernel + kx) * c_count;
      const int64_t ix = ix0 + kx;
      if (iy < 0 || iy >= height || ix < 0 || ix >= width)
        std::memset(dst, pad, static_cast<size_t>(c_count));
      else
        copy_run(dst, x + (iy * width + ix) * channels + c_begin, c_count);
    }
  }
}

}  // namespace

void im2col_nhwc(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t c_begin, int64_t c_count,
                 int64_t kernel, int64_t stride, int64_t padding, int64_t out_w, int64_t p_begin, int64_t p_end,
                 int32_t zp, int64_t k_padded, uint8_t* rows) {
  const auto pad = static_cast<uint8_t>(zp);
  const int64_t k = kernel * kernel * c_count;
  const auto [ox_lo, ox_hi] = interior_range(width, kernel, stride, padding, out_w);
  const int64_t run = kernel * c_count;
  for (int64_t p = p_begin; p < p_end;) {
    // One output row's pixels [p, p_row_end) at a time.
    const int64_t oy = p / out_w, ox_begin = p % out_w, p_row_end = std::min(p_end, (oy + 1) * out_w);
    const int64_t ox_end = ox_begin + (p_row_end - p), iy0 = oy * stride - padding;
    uint8_t* first = rows + (p - p_begin) * k_padded;
    const bool rows_inside = iy0 >= 0 && iy0 + kernel <= height && c_count == channels;
    const int64_t a = rows_inside ? std::clamp(ox_lo, ox_begin, ox_end) : ox_end;
    const int64_t b = rows_inside ? std::clamp(ox_hi, a, ox_end) : ox_end;
    for (int64_t ox = ox_begin; ox < a; ++ox)
      im2col_pixel(x, height, width, channels, c_begin, c_count, kernel, iy0, ox * stride - padding, pad,
                   first + (ox - ox_begin) * k_padded);
    // The interior: for each window row, one contiguous run per pixel, the source moving by
    // `stride` pixels and the destination by a row: a tight loop (ResNet's 7x7 stem on 3
    // channels: 21-byte runs).
    for (int64_t ky = 0; ky < kernel && a < b; ++ky) {
      const uint8_t* src = x + ((iy0 + ky) * width + a * stride - padding) * channels;
      uint8_t* dst = first + (a - ox_begin) * k_padded + ky * run;
      for (int64_t ox = a; ox < b; ++ox, src += stride * channels, dst += k_padded) copy_run(dst, src, run);
    }
    for (int64_t ox = b; ox < ox_end; ++ox)
      im2col_pixel(x, height, width, channels, c_begin, c_count, kernel, iy0, ox * stride - padding, pad,
                   first + (ox - ox_begin) * k_padded);
    if (k < k_padded)
      for (int64_t ox = ox_begin; ox < ox_end; ++ox) std::memset(first + (ox - ox_begin) * k_padded + k, pad,
                                                                 static_cast<size_t>(k_padded - k));
    p = p_row_end;
  }
}

std::vector<int8_t> weights_to_nhwc(const int8_t* w, int64_t out, int64_t channels, int64_t kernel) {
  const int64_t taps = kernel * kernel;
  std::vector<int8_t> r(static_cast<size_t>(out * channels * taps));
  for (int64_t o = 0; o < out; ++o)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t t = 0; t < taps; ++t) r[static_cast<size_t>((o * taps + t) * channels + c)] = w[(o * channels + c) * taps + t];
  return r;
}

void depthwise_nhwc_reference(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t kernel,
                              int64_t stride, int64_t padding, int64_t out_w, int64_t oy_begin, int64_t oy_end,
                              int32_t zp, const int32_t* weights, const int32_t* bias, const ChannelRequant& rq,
                              const void* /*prepared: none*/, uint8_t* out) {
  std::vector<int32_t> acc(static_cast<size_t>(channels));
  for (int64_t oy = oy_begin; oy < oy_end; ++oy)
    for (int64_t ox = 0; ox < out_w; ++ox) {
      for (int64_t c = 0; c < channels; ++c) acc[static_cast<size_t>(c)] = bias[c];
      for (int64_t ky = 0; ky < kernel; ++ky)
        for (int64_t kx = 0; kx < kernel; ++kx) {
          const int64_t iy = oy * stride - padding + ky, ix = ox * stride - padding + kx;
          if (iy < 0 || iy >= height || ix < 0 || ix >= width) continue;
          const uint8_t* px = x + (iy * width + ix) * channels;
          const int32_t* w = weights + (ky * kernel + kx) * channels;
          for (int64_t c = 0; c < channels; ++c) acc[static_cast<size_t>(c)] += (static_cast<int32_t>(px[c]) - zp) * w[c];
        }
      requantize_channels_reference(acc.data(), channels, rq, out + (oy * out_w + ox) * channels);
    }
}

PackedWeights pack_weights_padded(const int8_t* w, int64_t out, int64_t k, int64_t k_padded, const int32_t* bias,
                                  int32_t zp) {
  PackedWeights p;
  p.out = out;
  p.k = k;
  p.k_padded = k_padded;
  const int64_t blocks = (out + 15) / 16;
  p.data.assign(static_cast<size_t>(blocks * p.k_padded * 16), 0);
  p.bias.assign(static_cast<size_t>(out), 0);
  p.small_sums = true;
  for (int64_t o = 0; o < out; ++o) {
    int32_t row_sum = 0;
    int64_t abs_sum = 0;
    for (int64_t j = 0; j < k; ++j) {
      const int8_t v = w[o * k + j];
      row_sum += v;
      abs_sum += v < 0 ? -v : v;
      // block o/16, k-group j/4, lane o%16, byte j%4
      p.data[static_cast<size_t>(((o / 16) * (p.k_padded / 4) + j / 4) * 64 + (o % 16) * 4 + j % 4)] = v;
    }
    const int32_t folded = bias[o] - zp * row_sum;
    p.bias[static_cast<size_t>(o)] = folded;
    const int64_t bound = 255 * abs_sum + (folded < 0 ? -int64_t{folded} : int64_t{folded});
    if (bound >= (int64_t{1} << 30)) p.small_sums = false;
  }
  return p;
}

PackedWeights pack_weights(const int8_t* w, int64_t out, int64_t k, const int32_t* bias, int32_t zp) {
  return pack_weights_padded(w, out, k, (k + 3) / 4 * 4, bias, zp);
}

int64_t amx_k_step(int64_t k_padded) {
  // Steps of up to 16 groups of 4 bytes; a few more steps than the fewest, if that makes
  // them equal, beats padding k (every step is one TDPBUSD whatever its width).
  const int64_t groups = k_padded / 4, fewest = (groups + 15) / 16;
  if (k_padded % 4 != 0 || groups == 0) return 0;
  for (int64_t steps = fewest; steps <= 2 * fewest; ++steps)
    if (groups % steps == 0) return 4 * (groups / steps);
  return 0;
}

PackedWeights pack_weights_amx(const int8_t* w, int64_t out, int64_t k, const int32_t* bias, int32_t zp) {
  int64_t k_padded = (k + 3) / 4 * 4;
  while (amx_k_step(k_padded) == 0) k_padded += 4;  // ends at the latest at a multiple of 64
  return pack_weights_padded(w, out, k, k_padded, bias, zp);
}

void gemm_scalar_segmented(const uint8_t* x, int64_t rows, int64_t lda, const GemmSegments& segments, int64_t out,
                           const int8_t* packed, const int32_t* bias, int64_t oc_begin, int64_t oc_end,
                           const GemmOutput& output) {
  const int64_t k_padded = segments.count * segments.bytes, groups = k_padded / 4;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t oc = oc_begin; oc < oc_end && oc < out; ++oc) {
      const int8_t* w = packed + (oc / 16) * groups * 64 + (oc % 16) * 4;
      int32_t sum = bias[oc];
      for (int64_t j = 0; j < k_padded; ++j) {
        const uint8_t a = x[r * lda + (j / segments.bytes) * segments.pitch + j % segments.bytes];
        sum += static_cast<int32_t>(a) * w[(j / 4) * 64 + j % 4];
      }
      if (output.codes) {
        const ChannelRequant& rq = output.requant;
        output.codes[r * output.ld + oc] =
            requantize(sum, {rq.multiplier[oc], rq.shift[oc]}, rq.zero_point, rq.lo, rq.hi);
      } else {
        output.acc[r * output.ld + oc] = sum;
      }
    }
}

void gemm_scalar(const uint8_t* x, int64_t rows, int64_t lda, int64_t k_padded, int64_t out, const int8_t* packed,
                 const int32_t* bias, int64_t oc_begin, int64_t oc_end, const GemmOutput& output) {
  gemm_scalar_segmented(x, rows, lda, {1, k_padded, 0}, out, packed, bias, oc_begin, oc_end, output);
}

std::vector<int8_t> weights_to_segments(const int8_t* w, int64_t out, int64_t segments, int64_t run,
                                        int64_t segment_bytes) {
  std::vector<int8_t> r(static_cast<size_t>(out * segments * segment_bytes), 0);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t s = 0; s < segments; ++s)
      std::copy_n(w + (o * segments + s) * run, run, r.begin() + (o * segments + s) * segment_bytes);
  return r;
}

}  // namespace intrain::int8
