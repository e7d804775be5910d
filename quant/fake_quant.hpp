#pragma once
// Differentiable fake quantization (quantize, then dequantize, in float) with the
// straight-through estimator (STE) of Bengio et al. 2013: the gradient of rounding is 1,
// and the gradient of clamping is 1 inside the range and 0 outside. Learnable parameters
// get the exact gradients their papers define.
#include "core/tensor.hpp"
#include "quant/scheme.hpp"

namespace intrain::quant {

// Fixed scale/zero point (per tensor or per channel along scheme.axis). ∂/∂x = 1 where
// qmin ≤ round(x/s) + z ≤ qmax, else 0. No gradient for the parameters.
Tensor fake_quantize(const Tensor& x, const QuantParams& params, const QuantScheme& scheme);

// LSQ, Esser et al. 2020 ("Learned Step Size Quantization"): x̂ = round(clamp(x/s, qmin, qmax))·s,
// with s learnable (one element, or one per channel along scheme.axis; zero point 0).
// ∂x̂/∂x = 1 if qmin < x/s < qmax else 0;
// ∂x̂/∂s = round(x/s) − x/s inside, qmin below, qmax above — then scaled by grad_scale,
// 1/sqrt(N·qmax) in the paper (N: elements per step, i.e. per channel for weights).
Tensor lsq_quantize(const Tensor& x, const Tensor& step, const QuantScheme& scheme, float grad_scale);

// PACT, Choi et al. 2018: y = clamp(x, 0, α), then quantized on `bits` unsigned levels
// with scale α/(2^bits − 1). ∂/∂x = 1 for 0 ≤ x < α else 0 (STE through rounding);
// ∂/∂α = 1 for x ≥ α else 0 (the paper's eq. 3 with the STE).
Tensor pact(const Tensor& x, const Tensor& alpha, int bits);

// round() with the identity gradient: the building block of DoReFa and SAT.
Tensor round_ste(const Tensor& x);

// DoReFa-Net weights, Zhou et al. 2016, k bits: w_t = tanh(w) / (2·max|tanh(w)|) + 1/2,
// w_q = 2·round_ste((2^k − 1)·w_t)/(2^k − 1) − 1, so w_q ∈ [−1, 1]. With quantize = false
// only the tanh normalization is applied: SAT's 'clamp only' first stage (N2D2's
// ApplyQuantization=false).
Tensor dorefa_weight(const Tensor& w, int bits, bool quantize = true);

// SAT's weight scale adjustment, Jin et al. 2019, for layers without a following batch
// norm: w* = w_q / sqrt(n·Var(w_q)), n = the layer's output channels, so the output
// variance matches that of a well-initialized float layer.
Tensor sat_scale_adjust(const Tensor& w_q);

}  // namespace intrain::quant
