#pragma once
// Integer requantization, the gemmlowp/TFLite way (docs/quantization.md §7): a real
// multiplier M in (0, 2^15) is stored as an int32 M0 in [2^30, 2^31) and a shift, and
// applied with a rounding doubling high multiply and a rounding right shift. Every int8
// kernel, reference or fast, requantizes through these functions, so they agree bit for bit.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/error.hpp"

namespace intrain::int8 {

struct FixedPointMultiplier {
  int32_t multiplier = 0;  // M0 in [2^30, 2^31), or 0 for M = 0
  int32_t shift = 0;       // right shift (negative: left shift)
};

// M ≈ multiplier · 2^(−31 − shift).
inline FixedPointMultiplier quantize_multiplier(double m) {
  INTRAIN_CHECK(std::isfinite(m), "requantization multiplier ", m,
                " is not finite (a scale of NaN, infinity or zero upstream: calibrate again?)");
  if (m <= 0) return {0, 0};
  int exponent = 0;
  const double fraction = std::frexp(m, &exponent);  // m = fraction · 2^exponent, fraction in [0.5, 1)
  auto q = static_cast<int64_t>(std::llround(fraction * static_cast<double>(int64_t{1} << 31)));
  if (q == (int64_t{1} << 31)) {
    q /= 2;
    ++exponent;
  }
  return {static_cast<int32_t>(q), -exponent};
}

// (a·b·2 + 2^31 rounding) >> 32, saturating the one overflowing case.
inline int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == b && a == std::numeric_limits<int32_t>::min()) return std::numeric_limits<int32_t>::max();
  const int64_t ab = static_cast<int64_t>(a) * static_cast<int64_t>(b);
  const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : (1 - (int64_t{1} << 30));
  return static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));
}

// x / 2^exponent, rounded half away from zero.
inline int32_t rounding_divide_by_pot(int32_t x, int exponent) {
  if (exponent <= 0) return x;
  const int32_t mask = static_cast<int32_t>((int64_t{1} << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

inline int32_t multiply_by_quantized_multiplier(int32_t x, FixedPointMultiplier m) {
  const int left = m.shift < 0 ? -m.shift : 0, right = m.shift > 0 ? m.shift : 0;
  const auto shifted = static_cast<int32_t>(std::clamp<int64_t>(static_cast<int64_t>(x) * (int64_t{1} << left),
                                                                std::numeric_limits<int32_t>::min(),
                                                                std::numeric_limits<int32_t>::max()));
  return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, m.multiplier), right);
}

// A float network input to its u8 code: clamp(round_half_even(x / s) + z, 0, 255), §1's
// formula (used by Executor::run and by the pixel table of set_pixel_input). The rounded
// quotient is clamped to ±512 before the conversion, which changes no code (every code
// beyond clamps to 0 or 255 anyway) and keeps huge values and NaN (→ −512) well defined;
// the vector twins (quantize_input_avx512/avx2) do the same, bit for bit.
inline uint8_t quantize_input(float x, float scale, int32_t zero_point) {
  const float q = std::fmin(std::fmax(std::nearbyint(x / scale), -512.0f), 512.0f);
  return static_cast<uint8_t>(std::clamp(static_cast<int32_t>(q) + zero_point, 0, 255));
}

// acc (already including the bias) → output code: scale, add the zero point, clamp.
inline uint8_t requantize(int32_t acc, FixedPointMultiplier m, int32_t zero_point, int32_t lo, int32_t hi) {
  const int32_t v = multiply_by_quantized_multiplier(acc, m) + zero_point;
  return static_cast<uint8_t>(std::clamp(v, lo, hi));
}

}  // namespace intrain::int8
