#include "int8/executor.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/cpu_features.hpp"
#include "core/threads.hpp"
#include "int8/requantize.hpp"

namespace intrain::int8 {

bool vnni_available() { return active_isa() == Isa::avx512 && cpu_has_avx512_vnni(); }

namespace {

ConvShape conv_shape(const Op& op) {
  return {op.in_shape[0], op.in_shape[1], op.in_shape[2], op.out_shape[0], op.kernel, op.stride, op.padding, op.groups};
}

// Columns of one group for the VNNI GEMM: [pixels][k_padded], padded positions hold the
// zero point (so they contribute nothing), k ordered as the weight's (ic, ky, kx).
void im2col(const ConvShape& s, const uint8_t* x, int64_t group, int32_t zp, int64_t k_padded, uint8_t* cols) {
  const int64_t oh = s.out_h(), ow = s.out_w(), icg = s.channels / s.groups;
  const auto pad = static_cast<uint8_t>(zp);
  for (int64_t oy = 0; oy < oh; ++oy)
    for (int64_t ox = 0; ox < ow; ++ox) {
      uint8_t* row = cols + (oy * ow + ox) * k_padded;
      int64_t k = 0;
      for (int64_t ic = 0; ic < icg; ++ic) {
        const uint8_t* plane = x + (group * icg + ic) * s.height * s.width;
        for (int64_t ky = 0; ky < s.kernel; ++ky) {
          const int64_t iy = oy * s.stride - s.padding + ky;
          for (int64_t kx = 0; kx < s.kernel; ++kx, ++k) {
            const int64_t ix = ox * s.stride - s.padding + kx;
            row[k] = (iy < 0 || iy >= s.height || ix < 0 || ix >= s.width) ? pad : plane[iy * s.width + ix];
          }
        }
      }
      for (; k < k_padded; ++k) row[k] = pad;
    }
}

struct Requantizer {
  std::vector<FixedPointMultiplier> m;
  int32_t zp, lo, hi;
  explicit Requantizer(const Op& op) : zp(op.output_zero_point), lo(op.clamp_min), hi(op.clamp_max) {
    if (!op.multiplier.defined()) return;
    const auto mult = op.multiplier.to_vector<int32_t>(), shift = op.shift.to_vector<int32_t>();
    for (size_t c = 0; c < mult.size(); ++c) m.push_back({mult[c], shift[c]});
  }
};

}  // namespace

Executor::Executor(Program program, ExecutorOptions options) : program_(std::move(program)) {
  program_.validate();
  fast_ = options.fast && vnni_available();
  packed_groups_.resize(program_.ops.size());
  max_activation_ = shape_numel(program_.input_shape);
  for (size_t i = 0; i < program_.ops.size(); ++i) {
    const Op& op = program_.ops[i];
    max_activation_ = std::max(max_activation_, shape_numel(op.out_shape));
    if (op.kind == OpKind::conv2d) {
      const ConvShape s = conv_shape(op);
      const int64_t icg = s.channels / s.groups, ocg = s.out_channels / s.groups, k = icg * s.kernel * s.kernel;
      max_acc_ = std::max(max_acc_, shape_numel(op.out_shape));
      max_columns_ = std::max(max_columns_, s.out_h() * s.out_w() * ((k + 3) / 4 * 4));
      if (fast_)
        for (int64_t g = 0; g < s.groups; ++g)
          packed_groups_[i].push_back(pack_weights(op.weight.data<int8_t>() + g * ocg * k, ocg, k,
                                                   op.bias.data<int32_t>() + g * ocg, op.input_zero_point));
    } else if (op.kind == OpKind::linear) {
      max_acc_ = std::max(max_acc_, op.out_shape[0]);
      max_columns_ = std::max(max_columns_, (op.in_shape[0] + 3) / 4 * 4);
      if (fast_)
        packed_groups_[i].push_back(pack_weights(op.weight.data<int8_t>(), op.out_shape[0], op.in_shape[0],
                                                 op.bias.data<int32_t>(), op.input_zero_point));
    }
  }
}

void Executor::run_one(const uint8_t* input, float* logits) const {
  // Two activation buffers, sized once for the largest layer, used in turn.
  std::vector<uint8_t> a(static_cast<size_t>(max_activation_)), b(static_cast<size_t>(max_activation_));
  std::vector<uint8_t> columns(static_cast<size_t>(std::max<int64_t>(max_columns_, 1)));
  std::vector<int32_t> acc(static_cast<size_t>(std::max<int64_t>(max_acc_, 1)));
  std::memcpy(a.data(), input, static_cast<size_t>(shape_numel(program_.input_shape)));
  uint8_t* cur = a.data();
  uint8_t* next = b.data();
  for (size_t i = 0; i < program_.ops.size(); ++i) {
    const Op& op = program_.ops[i];
    switch (op.kind) {
      case OpKind::flatten:
        continue;  // same bytes, new shape
      case OpKind::max_pool:
      case OpKind::avg_pool: {
        const int64_t c = op.in_shape[0], h = op.in_shape[1], w = op.in_shape[2];
        const int64_t oh = op.out_shape[1], ow = op.out_shape[2];
        for (int64_t ch = 0; ch < c; ++ch)
          for (int64_t oy = 0; oy < oh; ++oy)
            for (int64_t ox = 0; ox < ow; ++ox) {
              int32_t best = 0, sum = 0;
              for (int64_t ky = 0; ky < op.kernel; ++ky)
                for (int64_t kx = 0; kx < op.kernel; ++kx) {
                  const int64_t iy = oy * op.stride - op.padding + ky, ix = ox * op.stride - op.padding + kx;
                  if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                  const int32_t v = cur[(ch * h + iy) * w + ix];
                  best = std::max(best, v);
                  sum += v;
                }
              const int32_t window = static_cast<int32_t>(op.kernel * op.kernel);
              // Average: round half away from zero of sum / window (codes are >= 0).
              next[(ch * oh + oy) * ow + ox] =
                  static_cast<uint8_t>(op.kind == OpKind::max_pool ? best : (sum + window / 2) / window);
            }
        break;
      }
      case OpKind::conv2d:
      case OpKind::linear: {
        const int64_t oc = op.out_shape[0];
        const int64_t pixels = op.kind == OpKind::conv2d ? op.out_shape[1] * op.out_shape[2] : 1;
        // acc laid out [oc][pixel] (NCHW)
        if (op.kind == OpKind::conv2d) {
          const ConvShape s = conv_shape(op);
          if (fast_) {
            const int64_t ocg = oc / s.groups;
            std::vector<int32_t> block(static_cast<size_t>(pixels * ocg));
            for (int64_t g = 0; g < s.groups; ++g) {
              const PackedWeights& pw = packed_groups_[i][static_cast<size_t>(g)];
              im2col(s, cur, g, op.input_zero_point, pw.k_padded, columns.data());
              gemm_acc_vnni(columns.data(), pixels, pw, block.data());  // [pixel][ocg]
              for (int64_t p = 0; p < pixels; ++p)
                for (int64_t o = 0; o < ocg; ++o) acc[static_cast<size_t>((g * ocg + o) * pixels + p)] = block[static_cast<size_t>(p * ocg + o)];
            }
          } else {
            conv2d_acc_reference(s, cur, op.input_zero_point, op.weight.data<int8_t>(), op.bias.data<int32_t>(), acc.data());
          }
        } else if (fast_) {
          const PackedWeights& pw = packed_groups_[i][0];
          std::memcpy(columns.data(), cur, static_cast<size_t>(op.in_shape[0]));
          gemm_acc_vnni(columns.data(), 1, pw, acc.data());
        } else {
          linear_acc_reference(1, op.in_shape[0], oc, cur, op.input_zero_point, op.weight.data<int8_t>(),
                               op.bias.data<int32_t>(), acc.data());
        }
        if (op.output_scale.defined()) {
          const float* scale = op.output_scale.data<float>();
          for (int64_t c = 0; c < oc; ++c) logits[c] = static_cast<float>(acc[static_cast<size_t>(c)]) * scale[c];
          return;
        }
        const Requantizer r(op);
        for (int64_t c = 0; c < oc; ++c)
          for (int64_t p = 0; p < pixels; ++p)
            next[c * pixels + p] = requantize(acc[static_cast<size_t>(c * pixels + p)], r.m[static_cast<size_t>(c)], r.zp, r.lo, r.hi);
        break;
      }
    }
    std::swap(cur, next);
  }
}

Tensor Executor::run_example_batch(const uint8_t* codes, int64_t batch) const {
  const int64_t per_example = shape_numel(program_.input_shape), classes = program_.num_outputs();
  Tensor logits = Tensor::empty({batch, classes});
  float* out = logits.data<float>();
  parallel_for(batch, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) run_one(codes + n * per_example, out + n * classes);
  });
  return logits;
}

Tensor Executor::run_codes(const Tensor& codes_in) const {
  INTRAIN_CHECK(codes_in.defined() && codes_in.dtype() == DType::u8, "int8 executor: input codes must be u8");
  Tensor codes = codes_in.dim() == 3 ? codes_in.unsqueeze(0) : codes_in;
  Shape expected{codes.size(0)};
  expected.insert(expected.end(), program_.input_shape.begin(), program_.input_shape.end());
  INTRAIN_CHECK(codes.shape() == expected, "int8 executor: input ", shape_str(codes_in.shape()),
                " does not match the program's input [N, ", program_.input_shape[0], ", ", program_.input_shape[1], ", ",
                program_.input_shape[2], "]");
  Tensor c = codes.contiguous();
  return run_example_batch(c.data<uint8_t>(), c.size(0));
}

Tensor Executor::run(const Tensor& input) const {
  INTRAIN_CHECK(input.defined() && input.dtype() == DType::f32, "int8 executor: float input must be f32");
  Tensor x = (input.dim() == 3 ? input.unsqueeze(0) : input).contiguous();
  Shape expected{x.size(0)};
  expected.insert(expected.end(), program_.input_shape.begin(), program_.input_shape.end());
  INTRAIN_CHECK(x.shape() == expected, "int8 executor: input ", shape_str(input.shape()),
                " does not match the program's input [N, ", program_.input_shape[0], ", ", program_.input_shape[1], ", ",
                program_.input_shape[2], "]");
  // Input quantization: docs/quantization.md §1 with the program's input scale and zero point.
  Tensor codes = Tensor::empty(x.shape(), DType::u8);
  const float* px = x.data<float>();
  uint8_t* pc = codes.data<uint8_t>();
  const float s = program_.input_scale;
  const int32_t z = program_.input_zero_point;
  for (int64_t i = 0; i < x.numel(); ++i)
    pc[i] = static_cast<uint8_t>(std::clamp(static_cast<int32_t>(std::nearbyint(px[i] / s)) + z, 0, 255));
  return run_example_batch(pc, x.size(0));
}

}  // namespace intrain::int8
