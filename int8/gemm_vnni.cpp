// The AVX-512 VNNI int8 GEMM, with requantization fused into its epilogue. Exact int32
// arithmetic throughout, so it equals the reference loops bit for bit.
#include <immintrin.h>

#include <climits>
#include <cstdint>
#include <cstring>

#include "int8/avx512_requantize.hpp"
#include "int8/kernels.hpp"

namespace intrain::int8 {

namespace {


// B blocks of 16 channels of each of R rows as codes (the last block cut at `out`), when
// every sum is small (GemmOutput::small_sums): the cheaper exact rounding, then packs and
// packus take four blocks to bytes with their int16 and u8 saturation (the clamp to [lo, hi]
// follows on bytes), interleaved by 128-bit lane; one vpermd restores the channel order for
// a single store of up to 64 bytes. 14 operations per 16 codes instead of 20, and one store
// instead of B.
template <int R, int B>
inline void packed_rows_epilogue(const __m512i (&sums)[6][4], const int32_t* bias, int64_t out, int64_t oc0,
                                 const GemmOutput& output, int64_t row0) {
  const ChannelRequant& rq = output.requant;
  const __m512i zp = _mm512_set1_epi32(rq.zero_point);
  __m512i block_bias[B];
  SmallRequant16 requant[B];
  for (int b = 0; b < B; ++b) {
    const int64_t c = oc0 + 16 * b;
    const __mmask16 lanes = lanes_mask(out - c);
    block_bias[b] = _mm512_maskz_loadu_epi32(lanes, bias + c);
    requant[b] = make_small_requant16(_mm512_maskz_loadu_epi32(lanes, rq.multiplier + c),
                                      _mm512_maskz_loadu_epi32(lanes, rq.shift + c), zp);
  }
  // Lane L of the packed vector holds channels 4L..4L+3 of blocks 0..3, in that order.
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  const __m512i lo = _mm512_set1_epi8(static_cast<char>(rq.lo)), hi = _mm512_set1_epi8(static_cast<char>(rq.hi));
  const int64_t bytes = out - oc0 < 16 * B ? out - oc0 : 16 * B;
  const __mmask64 store = bytes == 64 ? ~__mmask64{0} : (__mmask64{1} << bytes) - 1;
  for (int r = 0; r < R; ++r) {
    __m512i v[4] = {};
    for (int b = 0; b < B; ++b)
      v[b] = requantize16_small_unclamped(_mm512_add_epi32(sums[r][b], block_bias[b]), requant[b]);
    const __m512i packed = _mm512_packus_epi16(_mm512_packs_epi32(v[0], v[1]), _mm512_packs_epi32(v[2], v[3]));
    const __m512i codes = _mm512_min_epu8(_mm512_max_epu8(_mm512_permutexvar_epi32(order, packed), lo), hi);
    _mm512_mask_storeu_epi8(output.codes + (row0 + r) * output.ld + oc0, store, codes);
  }
}

// Bias, then codes (requantized per channel) or raw accumulators, for a tile's R rows × B blocks.
template <int R, int B>
inline void tile_epilogue(const __m512i (&sums)[6][4], const int32_t* bias, int64_t out, int64_t oc0,
                          const GemmOutput& output, int64_t row0) {
  if (output.codes && output.small_sums) {
    packed_rows_epilogue<R, B>(sums, bias, out, oc0, output, row0);
    return;
  }
  for (int b = 0; b < B; ++b) {
    const BlockEpilogue epilogue(output, bias, out, oc0 + b * 16);
    for (int r = 0; r < R; ++r) epilogue.row(sums[r][b], row0 + r);
  }
}

// One tile of the GEMM: R rows × B blocks of 16 output channels (R <= 6, B <= 4), all
// accumulators in registers (R·B + B + 1 <= 29 zmm); each step loads B weight vectors and
// broadcasts 4 bytes of each row. The accumulators are named variables, not an array: GCC
// kept an array of 24 vectors in memory (a store per multiply-add), 2.5x slower. K is read
// as the GemmSegments' runs (one run for a plain GEMM).
template <int R, int B>
void gemm_tile(const uint8_t* x, int64_t lda, const GemmSegments& segments, const int8_t* packed, const int32_t* bias,
               int64_t out, int64_t oc0, const GemmOutput& output, int64_t row0) {
  const __m512i zero = _mm512_setzero_si512();
#define INTRAIN_ROW(r) __m512i a##r##0 = zero, a##r##1 = zero, a##r##2 = zero, a##r##3 = zero;
  INTRAIN_ROW(0) INTRAIN_ROW(1) INTRAIN_ROW(2) INTRAIN_ROW(3) INTRAIN_ROW(4) INTRAIN_ROW(5)
#undef INTRAIN_ROW
  const int64_t run_groups = segments.bytes / 4, groups = segments.count * run_groups;
  const int8_t* wb = packed + (oc0 / 16) * groups * 64;
  for (int64_t s = 0; s < segments.count; ++s, x += segments.pitch, wb += run_groups * 64)
    for (int64_t g = 0; g < run_groups; ++g) {
      const __m512i w0 = _mm512_loadu_si512(wb + g * 64);
      const __m512i w1 = B > 1 ? _mm512_loadu_si512(wb + (groups + g) * 64) : zero;
      const __m512i w2 = B > 2 ? _mm512_loadu_si512(wb + (2 * groups + g) * 64) : zero;
      const __m512i w3 = B > 3 ? _mm512_loadu_si512(wb + (3 * groups + g) * 64) : zero;
#define INTRAIN_ROW(r)                                                  \
  if constexpr (R > r) {                                                \
    int32_t four;                                                       \
    std::memcpy(&four, x + r * lda + g * 4, 4);                         \
    const __m512i v = _mm512_set1_epi32(four);                          \
    a##r##0 = _mm512_dpbusd_epi32(a##r##0, v, w0);                      \
    if constexpr (B > 1) a##r##1 = _mm512_dpbusd_epi32(a##r##1, v, w1); \
    if constexpr (B > 2) a##r##2 = _mm512_dpbusd_epi32(a##r##2, v, w2); \
    if constexpr (B > 3) a##r##3 = _mm512_dpbusd_epi32(a##r##3, v, w3); \
  }
      INTRAIN_ROW(0) INTRAIN_ROW(1) INTRAIN_ROW(2) INTRAIN_ROW(3) INTRAIN_ROW(4) INTRAIN_ROW(5)
#undef INTRAIN_ROW
    }
  const __m512i sums[6][4] = {{a00, a01, a02, a03}, {a10, a11, a12, a13}, {a20, a21, a22, a23},
                              {a30, a31, a32, a33}, {a40, a41, a42, a43}, {a50, a51, a52, a53}};
  tile_epilogue<R, B>(sums, bias, out, oc0, output, row0);
}

using TileFn = void (*)(const uint8_t*, int64_t, const GemmSegments&, const int8_t*, const int32_t*, int64_t, int64_t,
                        const GemmOutput&, int64_t);
constexpr int kTileRows = 6, kTileBlocks = 4;

template <int R>
constexpr TileFn tile_for(int blocks) {
  return blocks == 1 ? gemm_tile<R, 1> : blocks == 2 ? gemm_tile<R, 2> : blocks == 3 ? gemm_tile<R, 3> : gemm_tile<R, 4>;
}

TileFn tile_fn(int rows, int blocks) {
  switch (rows) {
    case 1: return tile_for<1>(blocks);
    case 2: return tile_for<2>(blocks);
    case 3: return tile_for<3>(blocks);
    case 4: return tile_for<4>(blocks);
    case 5: return tile_for<5>(blocks);
    default: return tile_for<6>(blocks);
  }
}

}  // namespace

void gemm_vnni_segmented(const uint8_t* x, int64_t rows, int64_t lda, const GemmSegments& segments, int64_t out,
                         const int8_t* packed, const int32_t* bias, int64_t oc_begin, int64_t oc_end,
                         const GemmOutput& output) {
  // Rows in panels that stay in L1 while every block of output channels passes over them.
  constexpr int64_t kPanel = 48;
  for (int64_t p0 = 0; p0 < rows; p0 += kPanel) {
    const int64_t p1 = p0 + kPanel < rows ? p0 + kPanel : rows;
    for (int64_t oc = oc_begin; oc < oc_end; oc += 16 * kTileBlocks) {
      const int64_t remaining = (oc_end - oc + 15) / 16;
      const int blocks = static_cast<int>(remaining < kTileBlocks ? remaining : kTileBlocks);
      for (int64_t r = p0; r < p1; r += kTileRows) {
        const int tile_rows = static_cast<int>(p1 - r < kTileRows ? p1 - r : kTileRows);
        tile_fn(tile_rows, blocks)(x + r * lda, lda, segments, packed, bias, out, oc, output, r);
      }
    }
  }
}

void gemm_vnni(const uint8_t* x, int64_t rows, int64_t lda, int64_t k_padded, int64_t out, const int8_t* packed,
               const int32_t* bias, int64_t oc_begin, int64_t oc_end, const GemmOutput& output) {
  gemm_vnni_segmented(x, rows, lda, {1, k_padded, 0}, out, packed, bias, oc_begin, oc_end, output);
}

}  // namespace intrain::int8
