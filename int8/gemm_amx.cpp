// The AMX-INT8 GEMM (Intel's Advanced Matrix Extensions, TDPBUSD: u8·s8 → s32 over tiles of
// 16 rows × 64 bytes). The VNNI weight layout (blocks of 16 channels × 4 consecutive k) is
// exactly a B tile's: one 64-byte row per group of 4 k, so the packed weights are read in
// place with a 64-byte stride. Exact integer arithmetic, bit-identical to the reference.
//
// Tiles 0–3 accumulate a 32-row × 32-channel block (two row blocks × two channel blocks),
// 4–5 hold the rows' K step, 6–7 the weights' K step: per step two A loads, two B loads and
// four TDPBUSD. Each accumulator tile then goes through a 1 KiB int32 scratch (L1) to the
// same requantizing epilogue as the VNNI kernel: AMX has no other way out of a tile.
// (Spreading a block's epilogue over the next block's K steps, so vector and tile work
// overlap, measured slower on Sapphire/Emerald Rapids: 0.5-0.8x; so the epilogue runs after.)
#include <immintrin.h>

#include <cstdint>

#include "int8/amx_tiles.hpp"
#include "int8/avx512_requantize.hpp"
#include "int8/kernels.hpp"

namespace intrain::int8 {

namespace {

void configure_tiles(int64_t k_step) {
  TileConfig config;
  for (int t = 0; t < 4; ++t) {
    config.rows[t] = 16;
    config.colsb[t] = 64;
  }
  for (int t = 4; t < 6; ++t) {
    config.rows[t] = 16;
    config.colsb[t] = static_cast<uint16_t>(k_step);
  }
  for (int t = 6; t < 8; ++t) {
    config.rows[t] = static_cast<uint8_t>(k_step / 4);
    config.colsb[t] = 64;
  }
  load_tile_config(config);
}

// One accumulator tile (16 rows × 16 channels of int32 in `tile`) plus the bias, written as
// codes or raw accumulators at rows row0.., channels oc.. (the channels past `out` masked off).
void tile_epilogue(const int32_t* tile, const int32_t* bias, int64_t out, int64_t oc, const GemmOutput& output,
                   int64_t row0) {
  const BlockEpilogue epilogue(output, bias, out, oc);
  for (int r = 0; r < 16; ++r) epilogue.row(_mm512_load_si512(tile + 16 * r), row0 + r);
}

// RB row blocks (16 rows each) × CB channel blocks (16 channels each), RB, CB in {1, 2}.
// The tile numbers are immediates, hence the template.
template <int RB, int CB>
void block(const uint8_t* x, int64_t lda, int64_t steps, int64_t k_step, const int8_t* weights, int64_t groups,
           const int32_t* bias, int64_t out, int64_t oc, const GemmOutput& output, int64_t row0) {
  _tile_zero(0);
  if constexpr (CB > 1) _tile_zero(1);
  if constexpr (RB > 1) _tile_zero(2);
  if constexpr (RB > 1 && CB > 1) _tile_zero(3);
  const int8_t* w = weights + (oc / 16) * groups * 64;
  for (int64_t s = 0; s < steps; ++s) {
    const uint8_t* a = x + s * k_step;
    const int8_t* b = w + s * (k_step / 4) * 64;
    _tile_loadd(4, a, lda);
    if constexpr (RB > 1) _tile_loadd(5, a + 16 * lda, lda);
    _tile_loadd(6, b, 64);
    if constexpr (CB > 1) _tile_loadd(7, b + groups * 64, 64);
    _tile_dpbusd(0, 4, 6);
    if constexpr (CB > 1) _tile_dpbusd(1, 4, 7);
    if constexpr (RB > 1) _tile_dpbusd(2, 5, 6);
    if constexpr (RB > 1 && CB > 1) _tile_dpbusd(3, 5, 7);
  }
  alignas(64) int32_t tile[16 * 16];
  _tile_stored(0, tile, 64);
  tile_epilogue(tile, bias, out, oc, output, row0);
  if constexpr (CB > 1) {
    _tile_stored(1, tile, 64);
    tile_epilogue(tile, bias, out, oc + 16, output, row0);
  }
  if constexpr (RB > 1) {
    _tile_stored(2, tile, 64);
    tile_epilogue(tile, bias, out, oc, output, row0 + 16);
  }
  if constexpr (RB > 1 && CB > 1) {
    _tile_stored(3, tile, 64);
    tile_epilogue(tile, bias, out, oc + 16, output, row0 + 16);
  }
}

// Two loop orders, each keeping one operand in L1 while the other streams from L2: a block
// of 16 or 32 channels over every whole 16-row tile of the rows (the weights' K × 32 panel
// stays), or a 16- or 32-row tile over every channel block (its rows stay).
template <int CB>
void channel_block(const uint8_t* x, int64_t lda, int64_t full, int64_t steps, int64_t k_step, const int8_t* packed,
                   int64_t groups, const int32_t* bias, int64_t out, int64_t oc, const GemmOutput& output) {
  int64_t r = 0;
  for (; r + 32 <= full; r += 32) block<2, CB>(x + r * lda, lda, steps, k_step, packed, groups, bias, out, oc, output, r);
  if (r < full) block<1, CB>(x + r * lda, lda, steps, k_step, packed, groups, bias, out, oc, output, r);
}

template <int RB>
void row_block(const uint8_t* x, int64_t lda, int64_t steps, int64_t k_step, const int8_t* packed, int64_t groups,
               const int32_t* bias, int64_t out, int64_t oc_begin, int64_t oc_end, const GemmOutput& output,
               int64_t row0) {
  for (int64_t oc = oc_begin; oc < oc_end; oc += 32) {
    if (oc_end - oc > 16)
      block<RB, 2>(x, lda, steps, k_step, packed, groups, bias, out, oc, output, row0);
    else
      block<RB, 1>(x, lda, steps, k_step, packed, groups, bias, out, oc, output, row0);
  }
}

}  // namespace

void gemm_amx(const uint8_t* x, int64_t rows, int64_t lda, int64_t k_padded, int64_t out, const int8_t* packed,
              const int32_t* bias, int64_t oc_begin, int64_t oc_end, const GemmOutput& output) {
  const int64_t k_step = amx_k_step(k_padded);
  const int64_t full = k_step == 0 ? 0 : rows / 16 * 16;  // rows in whole 16-row tiles
  // The tile configuration stays loaded after the call (no TILERELEASE): releasing and
  // reloading it on every call cost up to 40% on small GEMMs; each call loads its own.
  if (full > 0) {
    const int64_t groups = k_padded / 4, steps = k_padded / k_step;
    configure_tiles(k_step);
    if (full <= 64) {  // few rows (batch 1 at 7x7 or 14x14): each tile's rows once, every channel block
      int64_t r = 0;
      for (; r + 32 <= full; r += 32)
        row_block<2>(x + r * lda, lda, steps, k_step, packed, groups, bias, out, oc_begin, oc_end, output, r);
      if (r < full)
        row_block<1>(x + r * lda, lda, steps, k_step, packed, groups, bias, out, oc_begin, oc_end, output, r);
    } else {  // many rows: each channel block's weights once, every row tile
      for (int64_t oc = oc_begin; oc < oc_end; oc += 32) {
        if (oc_end - oc > 16)
          channel_block<2>(x, lda, full, steps, k_step, packed, groups, bias, out, oc, output);
        else
          channel_block<1>(x, lda, full, steps, k_step, packed, groups, bias, out, oc, output);
      }
    }
  }
  if (full < rows) {  // the last rows (fewer than a tile): the VNNI kernel on the same layout
    GemmOutput rest = output;
    if (rest.codes) rest.codes += full * rest.ld;
    if (rest.acc) rest.acc += full * rest.ld;
    gemm_vnni(x + full * lda, rows - full, lda, k_padded, out, packed, bias, oc_begin, oc_end, rest);
  }
}

}  // namespace intrain::int8
