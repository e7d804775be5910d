#pragma once
// How a tensor is quantized: bit width, signedness, symmetric or affine, per-tensor or
// per-channel, optional power-of-two scales, narrow range. docs/quantization.md writes
// out the arithmetic; this file and the int8 executor follow it exactly.
#include <cstdint>
#include <string>

#include "core/tensor.hpp"

namespace intrain::quant {

struct QuantScheme {
  int bits = 8;              // 2..8 (1 only where an algorithm defines binary weights)
  bool is_signed = true;     // integer range centred on 0 (weights) or from 0 (activations)
  bool symmetric = true;     // zero point fixed at 0
  int64_t axis = -1;         // per-channel along this axis; -1: per tensor
  bool power_of_two = false; // scales rounded up to a power of two
  bool narrow_range = false; // signed range without its most negative value (−127..127)

  int32_t qmin() const;
  int32_t qmax() const;
  bool per_channel() const { return axis >= 0; }
  void validate(const char* where) const;  // throws Error naming `where` on a bad scheme
  std::string to_string() const;

  static QuantScheme weight_per_channel(int bits, int64_t axis = 0);  // signed symmetric narrow
  static QuantScheme weight_per_tensor(int bits);
  static QuantScheme activation_affine(int bits);    // unsigned affine per tensor
  static QuantScheme activation_unsigned(int bits);  // unsigned, zero point 0 (after ReLU)
};

// Scale(s) and zero point(s): f32 and i32 tensors of one element, or one per channel.
struct QuantParams {
  Tensor scale;
  Tensor zero_point;
};

// Parameters covering [min, max] (widened to include 0, so 0 is exact), per tensor or per
// channel (min/max then have one element per channel). See docs/quantization.md §2.
QuantParams choose_qparams(const Tensor& min, const Tensor& max, const QuantScheme& scheme);

// q = clamp(round_half_even(x / s) + z, qmin, qmax), as i32.
Tensor quantize(const Tensor& x, const QuantParams& params, const QuantScheme& scheme);
// x̂ = s · (q − z)
Tensor dequantize(const Tensor& q, const QuantParams& params, const QuantScheme& scheme);

}  // namespace intrain::quant
