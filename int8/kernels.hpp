#pragma once
// Integer kernels on raw pointers. Activations are uint8 codes with a zero point, weights
// int8 codes (zero point 0), accumulators int32. The reference loops are the definition;
// the fast kernels (AVX-512 VNNI: vpdpbusd, u8·s8 → s32 without saturation; AVX2: exact
// vpmaddwd) must match them bit for bit.
//
// Layouts: the reference executor keeps activations NCHW, as the program describes them;
// the fast executor keeps them NHWC (channels innermost), where a 1x1 convolution is a
// GEMM straight over the activation rows, a KxK one a GEMM over rows gathered by im2col_nhwc,
// and a depthwise one runs 16 channels per vector.
#include <cstdint>
#include <memory>
#include <vector>

namespace intrain::int8 {

struct ConvShape {
  int64_t channels, height, width, out_channels, kernel, stride, padding, groups;
  int64_t out_h() const { return (height + 2 * padding - kernel) / stride + 1; }
  int64_t out_w() const { return (width + 2 * padding - kernel) / stride + 1; }
};

// Output positions [lo, hi) of a row or column whose window of `kernel` taps lies wholly
// inside [0, size): o·stride − padding >= 0 and o·stride − padding + kernel <= size. The
// fast kernels run these without bounds checks. Internal linkage (static): the per-ISA
// translation units each keep their own copy, compiled with their own flags.
struct InteriorRange {
  int64_t lo, hi;
};
static constexpr InteriorRange interior_range(int64_t size, int64_t kernel, int64_t stride, int64_t padding,
                                              int64_t out) {
  const int64_t first = (padding + stride - 1) / stride;
  const int64_t lo = first < out ? first : out;
  int64_t hi = size - kernel + padding >= 0 ? (size - kernel + padding) / stride + 1 : 0;
  hi = hi > out ? out : hi;
  return {lo, hi < lo ? lo : hi};
}

// ---- Reference (NCHW) -------------------------------------------------------------------
// acc[oc][p] = bias[oc] + Σ (x − zp)·w over the window (padding contributes 0), one image.
void conv2d_acc_reference(const ConvShape& s, const uint8_t* x, int32_t zp, const int8_t* w, const int32_t* bias,
                          int32_t* acc);
// acc[m][oc] = bias[oc] + Σ_k (x[m][k] − zp)·w[oc][k]
void linear_acc_reference(int64_t rows, int64_t in, int64_t out, const uint8_t* x, int32_t zp, const int8_t* w,
                          const int32_t* bias, int32_t* acc);

// ---- GEMM ---------------------------------------------------------------------------------
// Weights packed for the fast GEMMs: blocks of 16 output channels × 4 consecutive k,
// zero-padded; the bias already holds −zp·Σ_k w so the kernels multiply raw codes.
struct PackedWeights {
  int64_t out = 0, k = 0, k_padded = 0;
  std::vector<int8_t> data;
  std::vector<int32_t> bias;
  // Every sum bias + Σ x·w (x any code 0..255) lies within ±2^30 (255·Σ|w| + |bias| < 2^30
  // on every channel): the kernels may then round with the cheaper exact form
  // (avx512_requantize.hpp). True for every layer the converter makes in practice.
  bool small_sums = false;
};
PackedWeights pack_weights(const int8_t* w, int64_t out, int64_t k, const int32_t* bias, int32_t zp);
// The same layout with k padded to `k_padded` (a multiple of 4, at least k).
PackedWeights pack_weights_padded(const int8_t* w, int64_t out, int64_t k, int64_t k_padded, const int32_t* bias,
                                  int32_t zp);
// For the AMX GEMM: k padded so that it splits into equal steps of at most 64 bytes (one
// tile's row); the layout is the same, so the VNNI kernel reads these weights too.
PackedWeights pack_weights_amx(const int8_t* w, int64_t out, int64_t k, const int32_t* bias, int32_t zp);
// The AMX GEMM's K step (bytes) for a k_padded, or 0 when k_padded does not split evenly.
int64_t amx_k_step(int64_t k_padded);

// Per-output-channel requantization (requantize.hpp), fused into the kernels that write codes.
// Vector kernels take it only when every channel has 0 <= shift <= 30 and a positive
// multiplier (all the converter produces in practice); vector_requantizable() says so.
struct ChannelRequant {
  const int32_t* multiplier = nullptr;  // per output channel
  const int32_t* shift = nullptr;
  int32_t zero_point = 0, lo = 0, hi = 255;
};
bool vector_requantizable(const int32_t* multiplier, const int32_t* shift, int64_t channels);

// Where a GEMM's rows go: codes (requantized, u8, row stride ld; the multipliers must be
// vector_requantizable) when `codes` is set, else the raw accumulators (int32, row stride ld).
struct GemmOutput {
  uint8_t* codes = nullptr;
  ChannelRequant requant;
  int32_t* acc = nullptr;
  int64_t ld = 0;
  bool small_sums = false;  // the packed weights' small_sums: the kernels may round the cheaper way
};

// out[m][oc] for oc in [oc_begin, oc_end) (multiples of 16 except a final end = w.out) of
// x (rows of k_padded readable bytes, row stride lda; bytes past k may hold anything: their
// weights are zero) times the packed weights plus the packed bias. Raw pointers only: the
// VNNI kernel lives in the AVX-512 translation unit, which must not instantiate library
// templates other code could pick up.
void gemm_vnni(const uint8_t* x, int64_t rows, int64_t lda, int64_t k_padded, int64_t out, const int8_t* packed,
               const int32_t* bias, int64_t oc_begin, int64_t oc_end, const GemmOutput& output);
void gemm_avx2(const uint8_t* x, int64_t rows, int64_t lda, int64_t k_padded, int64_t out, const int8_t* packed,
               const int32_t* bias, int64_t oc_begin, int64_t oc_end, const GemmOutput& output);
// A GEMM whose rows are not contiguous K bytes but `count` runs of `bytes` (a multiple of 4)
// each, run s of row r at x + r·lda + s·pitch: a KxK convolution over a few input channels
// (the stems: 3 channels) reads its window rows straight from the zero-point-padded NHWC
// image, one run per kernel row, with no im2col. k_padded = count·bytes; a plain GEMM is
// {1, k_padded, 0}. The weights are packed as usual from weights_to_segments' layout.
struct GemmSegments {
  int64_t count, bytes, pitch;
};
void gemm_vnni_segmented(const uint8_t* x, int64_t rows, int64_t lda, const GemmSegments& segments, int64_t out,
                         const int8_t* packed, const int32_t* bias, int64_t oc_begin, int64_t oc_end,
                         const GemmOutput& output);
void gemm_scalar_segmented(const uint8_t* x, int64_t rows, int64_t lda, const GemmSegments& segments, int64_t out,
                           const int8_t* packed, const int32_t* bias, int64_t oc_begin, int64_t oc_end,
                           const GemmOutput& output);
// Weights [out][segments][run] (weights_to_nhwc's order, run = kernel·channels per kernel
// row) spread to runs of segment_bytes >= run, the gaps zero.
std::vector<int8_t> weights_to_segments(const int8_t* w, int64_t out, int64_t segments, int64_t run,
                                        int64_t segment_bytes);
// AMX-INT8 (TDPBUSD on 16-row tiles): blocks of 32 rows × 32 channels in four accumulator
// tiles, requantized from a 1 KiB int32 scratch per tile in the epilogue; rows past the last
// 16-row tile, and weights whose k_padded amx_k_step cannot split, go to gemm_vnni. Needs
// amx_permitted().
void gemm_amx(const uint8_t* x, int64_t rows, int64_t lda, int64_t k_padded, int64_t out, const int8_t* packed,
              const int32_t* bias, int64_t oc_begin, int64_t oc_end, const GemmOutput& output);
// The plain-loop twin over the same packed layout (the scalar table's GEMM).
void gemm_scalar(const uint8_t* x, int64_t rows, int64_t lda, int64_t k_padded, int64_t out, const int8_t* packed,
                 const int32_t* bias, int64_t oc_begin, int64_t oc_end, const GemmOutput& output);

// ---- NHWC convolution helpers ------------------------------------------------------------
// Rows [p_begin, p_end) of output pixels (p = oy·out_w + ox) of one NHWC image, gathered
// for a GEMM: row p holds, for each (ky, kx), channels [c_begin, c_begin + c_count) of input
// pixel (oy·stride − padding + ky, ox·stride − padding + kx) — the zero point where that
// lies outside — then the zero point up to k_padded.
void im2col_nhwc(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t c_begin, int64_t c_count,
                 int64_t kernel, int64_t stride, int64_t padding, int64_t out_w, int64_t p_begin, int64_t p_end,
                 int32_t zp, int64_t k_padded, uint8_t* rows);
// A conv weight [out][channels][k][k] reordered to [out][k][k][channels], im2col_nhwc's k order.
std::vector<int8_t> weights_to_nhwc(const int8_t* w, int64_t out, int64_t channels, int64_t kernel);

// Depthwise convolution, output rows [oy_begin, oy_end) of one NHWC image, requantized
// into NHWC codes (the vector twins: multipliers vector_requantizable; AVX2: channels % 8 == 0). Weights [k·k][channels] as int32, bias per channel (zero point not folded).
// `prepared`: the AVX-512 kernel's constants from prepare_depthwise_avx512 for the same
// arguments, or null (made per call); the others take none.
void depthwise_nhwc_reference(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t kernel,
                              int64_t stride, int64_t padding, int64_t out_w, int64_t oy_begin, int64_t oy_end,
                              int32_t zp, const int32_t* weights, const int32_t* bias, const ChannelRequant& rq,
                              const void* prepared, uint8_t* out);
void depthwise_nhwc_avx2(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t kernel,
                         int64_t stride, int64_t padding, int64_t out_w, int64_t oy_begin, int64_t oy_end, int32_t zp,
                         const int32_t* weights, const int32_t* bias, const ChannelRequant& rq, const void* prepared,
                         uint8_t* out);
void depthwise_nhwc_avx512(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t kernel,
                           int64_t stride, int64_t padding, int64_t out_w, int64_t oy_begin, int64_t oy_end,
                           int32_t zp, const int32_t* weights, const int32_t* bias, const ChannelRequant& rq,
                           const void* prepared, uint8_t* out);
// The AVX-512 kernel's 3x3 constants (64-channel blocks in its lane order), null for the
// shapes that need none (other kernels, 32 channels or fewer).
std::shared_ptr<const void> prepare_depthwise_avx512(int64_t channels, int64_t kernel, int64_t stride, int32_t zp,
                                                     const int32_t* weights, const int32_t* bias,
                                                     const ChannelRequant& rq);

// Max pooling of NHWC codes, output rows [oy_begin, oy_end) of one image: the largest code
// of each channel over the window's in-bounds pixels (0 if none). The AVX-512 twin takes
// 64 channels per vector.
void max_pool_nhwc_reference(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t kernel,
                             int64_t stride, int64_t padding, int64_t out_w, int64_t oy_begin, int64_t oy_end,
                             uint8_t* out);
void max_pool_nhwc_avx512(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t kernel,
                          int64_t stride, int64_t padding, int64_t out_w, int64_t oy_begin, int64_t oy_end,
                          uint8_t* out);
void max_pool_nhwc_avx2(const uint8_t* x, int64_t height, int64_t width, int64_t channels, int64_t kernel,
                        int64_t stride, int64_t padding, int64_t out_w, int64_t oy_begin, int64_t oy_end,
                        uint8_t* out);

// Residual addition (docs/quantization.md §7): both inputs, offset and shifted left by 20
// bits, scaled to a common scale (m[0], m[1] <= 1/2), summed, then requantized (m[2]).
// The AVX-512 twin needs all three multipliers vector_requantizable.
struct AddParams {
  int32_t a_zero_point = 0, b_zero_point = 0;
  int32_t multiplier[3] = {}, shift[3] = {};
  int32_t zero_point = 0, lo = 0, hi = 255;
};
void add_reference(const uint8_t* a, const uint8_t* b, int64_t n, const AddParams& p, uint8_t* out);
void add_avx512(const uint8_t* a, const uint8_t* b, int64_t n, const AddParams& p, uint8_t* out);
void add_avx2(const uint8_t* a, const uint8_t* b, int64_t n, const AddParams& p, uint8_t* out);

// out[i] = quantize_input(x[i], scale, zero_point) (requantize.hpp): the network's float
// input to its codes, and the vector twins.
void quantize_input_reference(const float* x, int64_t n, float scale, int32_t zero_point, uint8_t* out);
void quantize_input_avx2(const float* x, int64_t n, float scale, int32_t zero_point, uint8_t* out);
void quantize_input_avx512(const float* x, int64_t n, float scale, int32_t zero_point, uint8_t* out);

// out[i] = requantize(acc[i]) with channel i's multiplier, for one pixel's channels: the
// scalar definition and its AVX-512 twin (equal bit for bit; see requantize.hpp).
void requantize_channels_reference(const int32_t* acc, int64_t channels, const ChannelRequant& rq, uint8_t* out);
void requantize_channels_avx512(const int32_t* acc, int64_t channels, const ChannelRequant& rq, uint8_t* out);
void requantize_channels_avx2(const int32_t* acc, int64_t channels, const ChannelRequant& rq, uint8_t* out);

}  // namespace intrain::int8
