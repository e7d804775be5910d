#pragma once
// Fake-quantization kernels on one contiguous run of f32 values that share a grid (one
// channel's weights, or a piece of an activation quantized per tensor): raw pointers and
// lengths in, results out. quant/fake_quant.cpp cuts tensors into such runs by loop
// structure (outer × channels × inner), so no kernel ever divides an index to find its
// channel, and spreads the runs over the threads.
//
// Three tables share this layout: the plain scalar reference (also the fallback on CPUs
// without AVX2), AVX2 and AVX-512. Outputs and input gradients are bit-identical across
// the tables (same IEEE division, round-half-even, clamp order and NaN behaviour); the
// parameter-gradient sums they return differ only by summation order (the tests state the
// tolerance). The backward kernels recompute the straight-through masks from the saved
// input, so a fake-quant op keeps no mask tensor alive between forward and backward.
#include <cstdint>

#include "core/cpu_features.hpp"

namespace intrain::quant::kernels {

// The affine grid of docs/quantization.md §2, the float form of the integer codes.
struct AffineGrid {
  float scale, zero_point, qmin, qmax;
};
// LSQ's grid: a learned step, zero point 0.
struct LsqGrid {
  float step, qmin, qmax;
};
// PACT's grid: [0, alpha] on `levels` = 2^bits - 1 steps of alpha / levels.
struct PactGrid {
  float alpha, scale;
};

struct FakeQuantKernels {
  Isa isa;
  // out = s·(clamp(round(x/s) + z, qmin, qmax) − z)
  void (*affine)(const float* x, float* out, int64_t n, AffineGrid grid);
  // dx = grad where qmin ≤ round(x/s) + z ≤ qmax, else 0 (the STE of rounding and clamping)
  void (*affine_backward)(const float* grad, const float* x, float* dx, int64_t n, AffineGrid grid);
  // out = round(clamp(x/s, qmin, qmax))·s
  void (*lsq)(const float* x, float* out, int64_t n, LsqGrid grid);
  // dx = grad where qmin < x/s < qmax, else 0; returns Σ grad·∂out/∂s with ∂out/∂s =
  // round(x/s) − x/s inside, qmin at or below, qmax at or above (Esser et al., eq. 3)
  float (*lsq_backward)(const float* grad, const float* x, float* dx, int64_t n, LsqGrid grid);
  // out = round(clamp(x, 0, α)/s)·s
  void (*pact)(const float* x, float* out, int64_t n, PactGrid grid);
  // dx = grad where 0 ≤ x < α, else 0; returns Σ grad where x ≥ α (∂out/∂α)
  float (*pact_backward)(const float* grad, const float* x, float* dx, int64_t n, PactGrid grid);
};

const FakeQuantKernels& reference_fake_quant();
const FakeQuantKernels& avx2_fake_quant();
const FakeQuantKernels& avx512_fake_quant();
// The best table for active_isa().
const FakeQuantKernels& fake_quant_kernels();

}  // namespace intrain::quant::kernels
