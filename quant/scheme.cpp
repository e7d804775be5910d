#include "quant/scheme.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "quant/quant_math.hpp"

namespace intrain::quant {

int32_t QuantScheme::qmin() const {
  if (!is_signed) return 0;
  if (bits == 1) return -1;
  return -(1 << (bits - 1)) + (narrow_range ? 1 : 0);
}

int32_t QuantScheme::qmax() const {
  if (!is_signed) return (1 << bits) - 1;
  if (bits == 1) return 1;
  return (1 << (bits - 1)) - 1;
}

void QuantScheme::validate(const char* where) const {
  INTRAIN_CHECK(bits >= 1 && bits <= 8, where, ": bits must be in 1..8, got ", bits);
  INTRAIN_CHECK(bits > 1 || (is_signed && symmetric), where, ": 1-bit quantization is defined for signed ",
                "symmetric (binary) weights only");
  INTRAIN_CHECK(axis >= -1, where, ": per-channel axis must be >= 0 (or -1 for per tensor), got ", axis);
}

std::string QuantScheme::to_string() const {
  std::ostringstream out;
  out << (is_signed ? "int" : "uint") << bits << (symmetric ? " symmetric" : " affine")
      << (per_channel() ? " per-channel(axis " + std::to_string(axis) + ")" : " per-tensor")
      << (power_of_two ? " pow2" : "") << (narrow_range ? " narrow" : "");
  return out.str();
}

QuantScheme QuantScheme::weight_per_channel(int bits, int64_t axis) { return {bits, true, true, axis, false, true}; }
QuantScheme QuantScheme::weight_per_tensor(int bits) { return {bits, true, true, -1, false, true}; }
QuantScheme QuantScheme::activation_affine(int bits) { return {bits, false, false, -1, false, false}; }
QuantScheme QuantScheme::activation_unsigned(int bits) { return {bits, false, true, -1, false, false}; }

QuantParams choose_qparams(const Tensor& min_in, const Tensor& max_in, const QuantScheme& scheme) {
  scheme.validate("choose_qparams");
  INTRAIN_CHECK(min_in.shape() == max_in.shape(), "choose_qparams: min ", shape_str(min_in.shape()), " and max ",
                shape_str(max_in.shape()), " differ in shape");
  const auto mins = min_in.to_vector<float>(), maxs = max_in.to_vector<float>();
  const int64_t n = static_cast<int64_t>(mins.size());
  QuantParams p{Tensor::empty({n}), Tensor::empty({n}, DType::i32)};
  float* s = p.scale.data<float>();
  int32_t* z = p.zero_point.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    const ChannelParams c = channel_params(mins[static_cast<size_t>(i)], maxs[static_cast<size_t>(i)], scheme);
    s[i] = c.scale;
    z[i] = c.zero_point;
  }
  return p;
}

namespace {

// Calls f(flat_index, channel) over x (contiguous), channel along scheme.axis (0 per tensor).
template <class F>
void for_each_with_channel(const Tensor& x, const QuantScheme& scheme, F&& f) {
  int64_t channels = 1, inner = x.numel();
  if (scheme.per_channel()) {
    INTRAIN_CHECK(scheme.axis < x.dim(), "quantize: per-channel axis ", scheme.axis, " does not exist in a tensor of shape ",
                  shape_str(x.shape()));
    channels = x.size(scheme.axis);
    inner = 1;
    for (int64_t d = scheme.axis + 1; d < x.dim(); ++d) inner *= x.size(d);
  }
  for (int64_t i = 0, i_end = x.numel(); i < i_end; ++i) f(i, channels == 1 ? 0 : (i / inner) % channels);
}

void check_params(const Tensor& x, const QuantParams& p, const QuantScheme& s, const char* where) {
  const int64_t expected = s.per_channel() && s.axis < x.dim() ? x.size(s.axis) : 1;
  INTRAIN_CHECK(p.scale.numel() == expected && p.zero_point.numel() == expected, where, ": ", p.scale.numel(),
                " scales for ", expected, " channel(s) of a tensor of shape ", shape_str(x.shape()));
}

}  // namespace

Tensor quantize(const Tensor& x_in, const QuantParams& params, const QuantScheme& scheme) {
  scheme.validate("quantize");
  Tensor x = x_in.contiguous();
  check_params(x, params, scheme, "quantize");
  Tensor q = Tensor::empty(x.shape(), DType::i32);
  const float* px = x.data<float>();
  int32_t* pq = q.data<int32_t>();
  const float* s = params.scale.data<float>();
  const int32_t* z = params.zero_point.data<int32_t>();
  for_each_with_channel(x, scheme, [&](int64_t i, int64_t c) {
    pq[i] = quantize_value(px[i], s[c], z[c], scheme.qmin(), scheme.qmax());
  });
  return q;
}

Tensor dequantize(const Tensor& q_in, const QuantParams& params, const QuantScheme& scheme) {
  Tensor q = q_in.to(DType::i32).contiguous();
  check_params(q, params, scheme, "dequantize");
  Tensor x = Tensor::empty(q.shape());
  const int32_t* pq = q.data<int32_t>();
  float* px = x.data<float>();
  const float* s = params.scale.data<float>();
  const int32_t* z = params.zero_point.data<int32_t>();
  for_each_with_channel(q, scheme, [&](int64_t i, int64_t c) { px[i] = s[c] * static_cast<float>(pq[i] - z[c]); });
  return x;
}

}  // namespace intrain::quant
