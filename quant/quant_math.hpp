#pragma once
// The scalar arithmetic of docs/quantization.md, shared by every quantizer, observer and
// (later) the converter, so they cannot disagree.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "quant/scheme.hpp"

namespace intrain::quant {

// Round half to even (IEEE's default, std::nearbyint in the default rounding mode).
inline float round_half_even(float v) { return std::nearbyint(v); }

inline int32_t quantize_value(float x, float scale, int32_t zero_point, int32_t qmin, int32_t qmax) {
  const float q = round_half_even(x / scale) + static_cast<float>(zero_point);
  return static_cast<int32_t>(std::clamp(q, static_cast<float>(qmin), static_cast<float>(qmax)));
}

inline float fake_quantize_value(float x, float scale, int32_t zero_point, int32_t qmin, int32_t qmax) {
  return scale * static_cast<float>(quantize_value(x, scale, zero_point, qmin, qmax) - zero_point);
}

struct ChannelParams {
  float scale;
  int32_t zero_point;
};

// docs/quantization.md §2: widen [lo, hi] to contain 0; symmetric schemes use
// max(|lo|, |hi|) over the positive half-range; affine ones spread hi − lo over the
// whole range and round the zero point; power-of-two scales round up.
inline ChannelParams channel_params(float lo, float hi, const QuantScheme& s) {
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  const auto qmin = static_cast<float>(s.qmin()), qmax = static_cast<float>(s.qmax());
  constexpr float kTiny = 1e-8f;  // an all-zero range still gets a usable scale
  float scale;
  int32_t zero_point = 0;
  if (s.symmetric) {
    const float bound = std::max(-lo, hi);
    scale = s.is_signed ? bound / std::max(qmax, 1.0f) : bound / qmax;
  } else {
    scale = (hi - lo) / (qmax - qmin);
  }
  scale = std::max(scale, kTiny);
  if (s.power_of_two) scale = std::exp2(std::ceil(std::log2(scale)));
  if (!s.symmetric)
    zero_point = static_cast<int32_t>(std::clamp(qmin - round_half_even(lo / scale), qmin, qmax));
  return {scale, zero_point};
}

}  // namespace intrain::quant
