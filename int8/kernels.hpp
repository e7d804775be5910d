#pragma once
// Integer kernels on raw pointers. Activations are uint8 codes with a zero point, weights
// int8 codes (zero point 0), accumulators int32. The reference loops are the definition;
// the VNNI path (vpdpbusd: u8·s8 → s32 without saturation) must match them bit for bit.
#include <cstdint>
#include <vector>

namespace intrain::int8 {

struct ConvShape {
  int64_t channels, height, width, out_channels, kernel, stride, padding, groups;
  int64_t out_h() const { return (height + 2 * padding - kernel) / stride + 1; }
  int64_t out_w() const { return (width + 2 * padding - kernel) / stride + 1; }
};

// acc[oc][p] = bias[oc] + Σ (x − zp)·w over the window (padding contributes 0), one image.
void conv2d_acc_reference(const ConvShape& s, const uint8_t* x, int32_t zp, const int8_t* w, const int32_t* bias,
                          int32_t* acc);
// acc[m][oc] = bias[oc] + Σ_k (x[m][k] − zp)·w[oc][k]
void linear_acc_reference(int64_t rows, int64_t in, int64_t out, const uint8_t* x, int32_t zp, const int8_t* w,
                          const int32_t* bias, int32_t* acc);

// Weights packed for the VNNI kernel: blocks of 16 output channels × 4 consecutive k,
// zero-padded; the bias already holds −zp·Σ_k w so the kernel can multiply raw codes.
struct PackedWeights {
  int64_t out = 0, k = 0, k_padded = 0;
  std::vector<int8_t> data;
  std::vector<int32_t> bias;
};
PackedWeights pack_weights(const int8_t* w, int64_t out, int64_t k, const int32_t* bias, int32_t zp);
bool vnni_available();
bool avx2_available();
// The AVX2 twins of the VNNI GEMMs (16-bit products with vpmaddwd: exact, no saturation),
// on the same packed layouts.
void conv_gemm_acc_avx2(const uint8_t* columns, int64_t pixels, int64_t pixels_padded, int64_t k_padded, int64_t out,
                        const int8_t* weights, const int32_t* bias, int32_t* acc);
void gemm_acc_avx2(const uint8_t* x, int64_t rows, int64_t k_padded, int64_t out, const int8_t* packed,
                   const int32_t* bias, int32_t* acc);
// acc[m][oc] for rows of x laid out [rows][k_padded] (padding bytes may hold anything: their
// weights are zero). Raw pointers only: this lives in the AVX-512 translation unit, which
// must not instantiate library templates other code could pick up.
void gemm_acc_vnni(const uint8_t* x, int64_t rows, int64_t k_padded, int64_t out, const int8_t* packed,
                   const int32_t* bias, int32_t* acc);
// Convolution as GEMM with 16 output pixels in the lanes (the accumulators come out as
// [channel][pixel], NCHW, with no transposition): columns laid out [k/4][pixels_padded][4]
// (pixels_padded a multiple of 16), weights [out][k_padded] row-major, bias with the
// zero-point term folded in as in PackedWeights.
struct RowWeights {
  int64_t out = 0, k = 0, k_padded = 0;
  std::vector<int8_t> data;
  std::vector<int32_t> bias;
};
RowWeights pack_weights_rows(const int8_t* w, int64_t out, int64_t k, const int32_t* bias, int32_t zp);
void conv_gemm_acc_vnni(const uint8_t* columns, int64_t pixels, int64_t pixels_padded, int64_t k_padded, int64_t out,
                        const int8_t* weights, const int32_t* bias, int32_t* acc);

// Columns of one convolution group for conv_gemm_acc_vnni, laid out [k/4][pixels_padded][4]:
// for each 4 consecutive k (the weight's (ic, ky, kx) order), the 4 bytes of every output
// pixel side by side. Padding positions, padded k and padded pixels hold the zero point.
// `x` points at the group's first input channel.
void im2col_k4(const uint8_t* x, int64_t channels, int64_t height, int64_t width, int64_t kernel, int64_t stride,
               int64_t padding, int64_t out_h, int64_t out_w, int32_t zp, int64_t k_padded, int64_t pixels_padded,
               uint8_t* cols);  // portable twin of the AVX-512 version below
void im2col_k4_avx512(const uint8_t* x, int64_t channels, int64_t height, int64_t width, int64_t kernel, int64_t stride,
                      int64_t padding, int64_t out_h, int64_t out_w, int32_t zp, int64_t k_padded,
                      int64_t pixels_padded, uint8_t* cols);

// For convolutions with at least 4 input channels per group, a second column layout that
// needs no byte scattering: the input is first interleaved by groups of 4 channels,
// [ceil(C/4)][H][W][4] (missing channels hold the zero point), and k runs over
// (channel group, ky, kx, channel within the group), so each k-quad of a pixel is one
// 32-bit word of the interleaved input and a row of pixels one contiguous run of words.
void interleave_channels(const uint8_t* x, int64_t channels, int64_t height, int64_t width, int32_t zp, uint8_t* out);
RowWeights pack_weights_rows_interleaved(const int8_t* w, int64_t out, int64_t channels, int64_t kernel,
                                         const int32_t* bias, int32_t zp);
void im2col_interleaved(const uint8_t* xi, int64_t channel_groups, int64_t height, int64_t width, int64_t kernel,
                        int64_t stride, int64_t padding, int64_t out_h, int64_t out_w, int32_t zp, int64_t pixels_padded,
                        uint8_t* cols);

// One depthwise channel: acc[p] = bias + Σ (x − zp)·w over the in-bounds taps, 16 output
// pixels per vector (AVX-512), equal to conv2d_acc_reference on that channel. Stride 1 or 2.
void depthwise_acc_avx512(const uint8_t* plane, int64_t height, int64_t width, int64_t kernel, int64_t stride,
                          int64_t padding, int64_t out_h, int64_t out_w, int32_t zp, const int8_t* weights, int32_t bias,
                          int32_t* acc);

// 2x2, stride 2, unpadded max pooling of one plane of codes (h, w >= 2; out oh = h/2, ow = w/2).
void max_pool_2x2_avx512(const uint8_t* in, int64_t h, int64_t w, uint8_t* out);

// out[i] = requantize(acc[i], m, zp, lo, hi) for one channel's run of accumulators: the
// scalar definition and its AVX-512 twin (equal bit for bit; see requantize.hpp).
void requantize_row_reference(const int32_t* acc, int64_t n, int32_t multiplier, int32_t shift, int32_t zp,
                              int32_t lo, int32_t hi, uint8_t* out);
void requantize_row_avx512(const int32_t* acc, int64_t n, int32_t multiplier, int32_t shift, int32_t zp, int32_t lo,
                           int32_t hi, uint8_t* out);

inline void gemm_acc_vnni(const uint8_t* x, int64_t rows, const PackedWeights& w, int32_t* acc) {
  gemm_acc_vnni(x, rows, w.k_padded, w.out, w.data.data(), w.bias.data(), acc);
}

}  // namespace intrain::int8
