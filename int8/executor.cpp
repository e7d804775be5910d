#include "int8/executor.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "core/cpu_features.hpp"
#include "core/threads.hpp"
#include "int8/requantize.hpp"

namespace intrain::int8 {

// The VNNI path also uses BMI2 (pdep, in the depthwise kernel), which every VNNI CPU has; checked all the same.
bool vnni_available() {
  return active_isa() == Isa::avx512 && cpu_has_avx512_vnni() && __builtin_cpu_supports("bmi2");
}
bool avx2_available() { return active_isa() >= Isa::avx2; }

const char* kernel_path_name(KernelPath path) {
  switch (path) {
    case KernelPath::reference: return "scalar reference";
    case KernelPath::avx2: return "AVX2";
    case KernelPath::vnni: return "AVX-512 VNNI";
  }
  return "?";
}

namespace {

ConvShape conv_shape(const Op& op) {
  return {op.in_shape[0], op.in_shape[1], op.in_shape[2], op.out_shape[0], op.kernel, op.stride, op.padding, op.groups};
}

}  // namespace

Executor::Executor(Program program, ExecutorOptions options) : program_(std::move(program)) {
  program_.validate();
  path_ = !options.fast ? KernelPath::reference
          : vnni_available() ? KernelPath::vnni
          : avx2_available() ? KernelPath::avx2
                             : KernelPath::reference;
  const bool fast = path_ != KernelPath::reference;
  packed_.resize(program_.ops.size());
  packed_conv_.resize(program_.ops.size());
  interleaved_.assign(program_.ops.size(), false);
  multipliers_.resize(program_.ops.size());
  max_activation_ = shape_numel(program_.input_shape);
  for (size_t i = 0; i < program_.ops.size(); ++i) {
    const Op& op = program_.ops[i];
    max_activation_ = std::max(max_activation_, shape_numel(op.out_shape));
    if (op.multiplier.defined()) {
      const auto mult = op.multiplier.to_vector<int32_t>(), shift = op.shift.to_vector<int32_t>();
      for (size_t c = 0; c < mult.size(); ++c) multipliers_[i].push_back({mult[c], shift[c]});
    }
    if (!fast) continue;
    if (op.kind == OpKind::conv2d) {
      const int64_t ocg = op.out_shape[0] / op.groups, k = op.in_shape[0] / op.groups * op.kernel * op.kernel;
      // Four or more channels per group: the interleaved layout, which copies words
      // instead of scattering bytes; fewer (the first layer) would pad k too much.
      const int64_t icg = op.in_shape[0] / op.groups;
      interleaved_[i] = icg >= 4;
      for (int64_t g = 0; g < op.groups; ++g) {
        const int8_t* w = op.weight.data<int8_t>() + g * ocg * k;
        const int32_t* b = op.bias.data<int32_t>() + g * ocg;
        packed_conv_[i].push_back(interleaved_[i]
                                      ? pack_weights_rows_interleaved(w, ocg, icg, op.kernel, b, op.input_zero_point)
                                      : pack_weights_rows(w, ocg, k, b, op.input_zero_point));
      }
    } else if (op.kind == OpKind::linear) {
      packed_[i].push_back(pack_weights(op.weight.data<int8_t>(), op.out_shape[0], op.in_shape[0],
                                        op.bias.data<int32_t>(), op.input_zero_point));
    }
  }
}

void Executor::finish(size_t index, const int32_t* acc, int64_t channels, int64_t pixels, uint8_t* out,
                      float* logits) const {
  const Op& op = program_.ops[index];
  if (op.output_scale.defined()) {
    const float* scale = op.output_scale.data<float>();
    for (int64_t c = 0; c < channels; ++c) logits[c] = static_cast<float>(acc[c]) * scale[c];
    return;
  }
  const auto& m = multipliers_[index];
  const auto row = path_ == KernelPath::vnni ? requantize_row_avx512 : requantize_row_reference;
  for (int64_t c = 0; c < channels; ++c)
    row(acc + c * pixels, pixels, m[static_cast<size_t>(c)].multiplier, m[static_cast<size_t>(c)].shift,
        op.output_zero_point, op.clamp_min, op.clamp_max, out + c * pixels);
}

void Executor::run_conv(size_t index, const uint8_t* in, int64_t batch, uint8_t* out, float* logits) const {
  const Op& op = program_.ops[index];
  const ConvShape s = conv_shape(op);
  const int64_t in_size = shape_numel(op.in_shape), out_size = shape_numel(op.out_shape);
  const int64_t pixels = s.out_h() * s.out_w(), ocg = s.out_channels / s.groups;
  parallel_for(batch, 1, [&](int64_t begin, int64_t end) {
    std::unique_ptr<int32_t[]> acc(new int32_t[static_cast<size_t>(out_size)]);
    std::unique_ptr<uint8_t[]> columns;
    size_t columns_size = 0;
    std::vector<uint8_t> interleaved(interleaved_[index]
                                         ? static_cast<size_t>((s.channels / s.groups + 3) / 4 * 4 * s.height * s.width)
                                         : 0);
    const int64_t pixels_padded = (pixels + 15) / 16 * 16;
    for (int64_t n = begin; n < end; ++n) {
      const uint8_t* x = in + n * in_size;
      if (path_ == KernelPath::vnni && s.groups == s.channels && s.groups == s.out_channels && s.stride <= 2) {
        // Depthwise: each channel on its own, 16 pixels per vector.
        const int32_t* bias = op.bias.data<int32_t>();
        const int8_t* w = op.weight.data<int8_t>();
        for (int64_t c = 0; c < s.channels; ++c)
          depthwise_acc_avx512(x + c * s.height * s.width, s.height, s.width, s.kernel, s.stride, s.padding, s.out_h(),
                               s.out_w(), op.input_zero_point, w + c * s.kernel * s.kernel, bias[c], acc.get() + c * pixels);
      } else if (path_ != KernelPath::reference) {
        const bool vnni = path_ == KernelPath::vnni;
        for (int64_t g = 0; g < s.groups; ++g) {
          const RowWeights& rw = packed_conv_[index][static_cast<size_t>(g)];
          if (columns_size < static_cast<size_t>(rw.k_padded * pixels_padded)) {
            columns_size = static_cast<size_t>(rw.k_padded * pixels_padded);
            columns.reset(new uint8_t[columns_size]);
          }
          const int64_t icg = s.channels / s.groups;
          const uint8_t* xg = x + g * icg * s.height * s.width;
          if (interleaved_[index]) {
            interleave_channels(xg, icg, s.height, s.width, op.input_zero_point, interleaved.data());
            im2col_interleaved(interleaved.data(), (icg + 3) / 4, s.height, s.width, s.kernel, s.stride, s.padding,
                               s.out_h(), s.out_w(), op.input_zero_point, pixels_padded, columns.get());
          } else {
            (vnni ? im2col_k4_avx512 : im2col_k4)(xg, icg, s.height, s.width, s.kernel, s.stride, s.padding, s.out_h(),
                                                  s.out_w(), op.input_zero_point, rw.k_padded, pixels_padded,
                                                  columns.get());
          }
          using ConvGemm = void (*)(const uint8_t*, int64_t, int64_t, int64_t, int64_t, const int8_t*, const int32_t*,
                                    int32_t*);
          const ConvGemm gemm = vnni ? static_cast<ConvGemm>(conv_gemm_acc_vnni) : conv_gemm_acc_avx2;
          gemm(columns.get(), pixels, pixels_padded, rw.k_padded, rw.out, rw.data.data(), rw.bias.data(),
               acc.get() + g * ocg * pixels);
        }
      } else {
        conv2d_acc_reference(s, x, op.input_zero_point, op.weight.data<int8_t>(), op.bias.data<int32_t>(), acc.get());
      }
      finish(index, acc.get(), s.out_channels, pixels, out + n * out_size, logits ? logits + n * out_size : nullptr);
    }
  });
}

void Executor::run_linear(size_t index, const uint8_t* in, int64_t batch, uint8_t* out, float* logits) const {
  const Op& op = program_.ops[index];
  const int64_t k = op.in_shape[0], oc = op.out_shape[0];
  // Row blocks of the batch: one GEMM each, so the weights are read once per block.
  parallel_for(batch, 8, [&](int64_t begin, int64_t end) {
    const int64_t rows = end - begin;
    std::vector<int32_t> acc(static_cast<size_t>(rows * oc));
    if (path_ != KernelPath::reference) {
      const PackedWeights& pw = packed_[index][0];
      std::vector<uint8_t> padded(static_cast<size_t>(rows * pw.k_padded), 0);
      for (int64_t r = 0; r < rows; ++r) std::memcpy(padded.data() + r * pw.k_padded, in + (begin + r) * k, static_cast<size_t>(k));
      using Gemm = void (*)(const uint8_t*, int64_t, int64_t, int64_t, const int8_t*, const int32_t*, int32_t*);
      const Gemm gemm = path_ == KernelPath::vnni ? static_cast<Gemm>(gemm_acc_vnni) : gemm_acc_avx2;
      gemm(padded.data(), rows, pw.k_padded, pw.out, pw.data.data(), pw.bias.data(), acc.data());
    } else {
      linear_acc_reference(rows, k, oc, in + begin * k, op.input_zero_point, op.weight.data<int8_t>(),
                           op.bias.data<int32_t>(), acc.data());
    }
    for (int64_t r = 0; r < rows; ++r)
      finish(index, acc.data() + r * oc, oc, 1, out + (begin + r) * oc, logits ? logits + (begin + r) * oc : nullptr);
  });
}

void Executor::run_add(size_t index, const uint8_t* in, const uint8_t* saved, int64_t batch, uint8_t* out) const {
  // docs/quantization.md §7: both inputs, offset and shifted left by 20 bits, scaled to a
  // common scale (multipliers <= 1/2), summed, then requantized to the output.
  const Op& op = program_.ops[index];
  const auto& m = multipliers_[index];
  const int64_t n = batch * shape_numel(op.in_shape);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t a = multiply_by_quantized_multiplier((static_cast<int32_t>(in[i]) - op.input_zero_point) * (1 << 20), m[0]);
    const int32_t b = multiply_by_quantized_multiplier((static_cast<int32_t>(saved[i]) - op.saved_zero_point) * (1 << 20), m[1]);
    out[i] = requantize(a + b, m[2], op.output_zero_point, op.clamp_min, op.clamp_max);
  }
}

void Executor::run_pool(size_t index, const uint8_t* in, int64_t batch, uint8_t* out) const {
  const Op& op = program_.ops[index];
  const int64_t c = op.in_shape[0], h = op.in_shape[1], w = op.in_shape[2];
  const int64_t oh = op.out_shape[1], ow = op.out_shape[2];
  const bool max_2x2 = path_ == KernelPath::vnni && op.kind == OpKind::max_pool && op.kernel == 2 && op.stride == 2 && op.padding == 0;
  parallel_for(batch * c, 16, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const uint8_t* x = in + plane * h * w;
      uint8_t* y = out + plane * oh * ow;
      if (max_2x2) {  // LeNet's pooling, vectorized
        max_pool_2x2_avx512(x, h, w, y);
        continue;
      }
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          const int64_t y0 = oy * op.stride - op.padding, x0 = ox * op.stride - op.padding;
          const int64_t ya = std::max<int64_t>(y0, 0), yb = std::min(y0 + op.kernel, h);
          const int64_t xa = std::max<int64_t>(x0, 0), xb = std::min(x0 + op.kernel, w);
          int32_t best = 0, sum = 0;
          for (int64_t iy = ya; iy < yb; ++iy)
            for (int64_t ix = xa; ix < xb; ++ix) {
              const int32_t v = x[iy * w + ix];
              best = std::max(best, v);
              sum += v - op.input_zero_point;  // padding adds nothing in these units
            }
          // Average: Σ (x − z) over the window requantized with M = s_x / (s_y · k²), the
          // padding counted in the window as in float (count_include_pad).
          y[oy * ow + ox] = op.kind == OpKind::max_pool
                                ? static_cast<uint8_t>(best)
                                : requantize(sum, multipliers_[index][0], op.output_zero_point, op.clamp_min, op.clamp_max);
        }
    }
  });
}

void Executor::run_chunk(const uint8_t* codes, int64_t batch, float* logits) const {
  // Two activation buffers, sized once for the largest layer, used in turn, plus the
  // inputs saved for residual additions.
  // Uninitialized (every byte is written before it is read): no time spent zeroing.
  const auto size = static_cast<size_t>(batch * max_activation_);
  std::unique_ptr<uint8_t[]> a(new uint8_t[size]), b(new uint8_t[size]);
  std::vector<std::vector<uint8_t>> saved;
  std::memcpy(a.get(), codes, static_cast<size_t>(batch * shape_numel(program_.input_shape)));
  uint8_t* cur = a.get();
  uint8_t* next = b.get();
  for (size_t i = 0; i < program_.ops.size(); ++i) {
    const Op& op = program_.ops[i];
    float* out_logits = op.output_scale.defined() ? logits : nullptr;
    switch (op.kind) {
      case OpKind::flatten: continue;  // the same bytes under a new shape
      case OpKind::save:
        saved.emplace_back(cur, cur + batch * shape_numel(op.in_shape));
        continue;
      case OpKind::swap: {
        std::vector<uint8_t> current(cur, cur + batch * shape_numel(op.in_shape));
        std::memcpy(cur, saved.back().data(), saved.back().size());
        saved.back() = std::move(current);
        continue;
      }
      case OpKind::add:
        run_add(i, cur, saved.back().data(), batch, next);
        saved.pop_back();
        break;
      case OpKind::max_pool:
      case OpKind::avg_pool: run_pool(i, cur, batch, next); break;
      case OpKind::conv2d: run_conv(i, cur, batch, next, out_logits); break;
      case OpKind::linear: run_linear(i, cur, batch, next, out_logits); break;
    }
    std::swap(cur, next);
  }
}

Tensor Executor::run_codes_contiguous(const uint8_t* codes, int64_t batch) const {
  // Each thread takes whole slices of the batch through every layer: one parallel region
  // per call, no barrier between layers. Slices are at most 256 examples, which bounds the
  // activation memory; the layers' own parallel loops run inline inside the region.
  constexpr int64_t kMaxSlice = 256;
  const int64_t per_example = shape_numel(program_.input_shape), classes = program_.num_outputs();
  const int64_t slices = std::max<int64_t>((batch + kMaxSlice - 1) / kMaxSlice, std::min<int64_t>(num_threads(), batch));
  const int64_t slice = (batch + slices - 1) / slices;
  Tensor logits = Tensor::empty({batch, classes});
  float* out = logits.data<float>();
  parallel_for(slices, 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const int64_t start = k * slice, count = std::min(slice, batch - start);
      if (count > 0) run_chunk(codes + start * per_example, count, out + start * classes);
    }
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
  return run_codes_contiguous(c.data<uint8_t>(), c.size(0));
}

Tensor Executor::run_pixels(const Tensor& pixels) const {
  INTRAIN_CHECK(program_.pixel_codes.defined(), "int8 executor: this program takes normalized float input; ",
                "convert it with pixel normalization (intrain convert --pixel-mean/--pixel-std) to feed pixels");
  INTRAIN_CHECK(pixels.defined() && pixels.dtype() == DType::u8, "int8 executor: pixels must be u8");
  Tensor codes = pixels.contiguous().clone();
  if (codes.dim() == 3) codes = codes.unsqueeze(0);
  INTRAIN_CHECK(codes.dim() == 4 && codes.size(1) == program_.input_shape[0], "int8 executor: pixels ",
                shape_str(pixels.shape()), " do not match the program's input [N, ", program_.input_shape[0], ", ",
                program_.input_shape[1], ", ", program_.input_shape[2], "]");
  uint8_t* p = codes.data<uint8_t>();
  const uint8_t* table = program_.pixel_codes.data<uint8_t>();
  const int64_t plane = codes.size(2) * codes.size(3), channels = codes.size(1);
  for (int64_t i = 0; i < codes.numel(); ++i) p[i] = table[((i / plane) % channels) * 256 + p[i]];
  return run_codes(codes);
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
  for (int64_t i = 0; i < x.numel(); ++i) pc[i] = quantize_input(px[i], program_.input_scale, program_.input_zero_point);
  return run_codes_contiguous(pc, x.size(0));
}

}  // namespace intrain::int8
