// Int8 multiply-add throughput loops with no memory traffic: AVX-512 VNNI (vpdpbusd on 16
// independent accumulators: 2 ports × 4-cycle latency twice over) and AMX-INT8 (TDPBUSD on
// four accumulator tiles from two A and two B tiles, the GEMM's own 2×2 pattern). Each
// returns a value that depends on every accumulator, so nothing is optimized away.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "int8/amx_tiles.hpp"

namespace intrain::bench {

int32_t vnni_loop(int64_t iterations) {
  __m512i acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(-1);
  for (int64_t it = 0; it < iterations; ++it)
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
  __m512i s = acc[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_epi32(s, acc[i]);
  return _mm512_reduce_add_epi32(s);
}

int32_t amx_loop(int64_t iterations) {
  int8::TileConfig config;
  for (int t = 0; t < 8; ++t) {
    config.rows[t] = 16;
    config.colsb[t] = 64;
  }
  // GCC 12 does not treat LDTILECFG as reading all 64 bytes and dropped the stores above
  // (a tile instruction then faulted): a compiler barrier keeps them.
  asm volatile("" : : "r"(&config) : "memory");
  _tile_loadconfig(&config);
  alignas(64) int8_t operand[16 * 64];
  std::memset(operand, 1, sizeof operand);
  _tile_loadd(4, operand, 64);
  _tile_loadd(5, operand, 64);
  _tile_loadd(6, operand, 64);
  _tile_loadd(7, operand, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t it = 0; it < iterations; ++it) {
    _tile_dpbusd(0, 4, 6);
    _tile_dpbusd(1, 4, 7);
    _tile_dpbusd(2, 5, 6);
    _tile_dpbusd(3, 5, 7);
  }
  alignas(64) int32_t out[4][16 * 16];
  _tile_stored(0, out[0], 64);
  _tile_stored(1, out[1], 64);
  _tile_stored(2, out[2], 64);
  _tile_stored(3, out[3], 64);
  _tile_release();
  return out[0][0] + out[1][17] + out[2][100] + out[3][255];
}

}  // namespace intrain::bench
