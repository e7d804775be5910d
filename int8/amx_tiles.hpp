#pragma once
// The AMX tile configuration (LDTILECFG's 64-byte operand, palette 1), for the translation
// units built with -mamx-tile: the AMX GEMM and the AMX peak benchmark.
#include <immintrin.h>

#include <cstdint>

namespace intrain::int8 {

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};  // bytes per row of each tile
  uint8_t rows[16] = {};
};

inline void load_tile_config(const TileConfig& config) {
  // GCC 12 does not treat LDTILECFG as reading all 64 bytes and can drop the stores that
  // filled the configuration (a tile instruction then faults): a compiler barrier keeps them.
  asm volatile("" : : "r"(&config) : "memory");
  _tile_loadconfig(&config);
}

}  // namespace intrain::int8
