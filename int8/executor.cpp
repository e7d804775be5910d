#include "int8/executor.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>

#include "core/threads.hpp"
#include "int8/requantize.hpp"

namespace intrain::int8 {

namespace {

// The op's i-th requantization multiplier (per channel; average pooling has one, add three).
FixedPointMultiplier multiplier_of(const Op& op, int64_t i) {
  return {op.multiplier.data<int32_t>()[i], op.shift.data<int32_t>()[i]};
}

}  // namespace

Executor::Executor(Program program, ExecutorOptions options) : program_(std::move(program)) {
  program_.validate();
  if (options.fast) kernels_ = options.kernels ? options.kernels : &best_kernel_table();
  INTRAIN_CHECK(!kernels_ || kernels_->supported(), "int8 executor: the ", kernels_ ? kernels_->name : "",
                " kernels do not run on this CPU (", best_kernel_table().name, " do)");
  fast_.resize(program_.ops.size());
  max_activation_ = shape_numel(program_.input_shape);
  int64_t depth = 0;  // of the saved-activation stack
  for (size_t i = 0; i < program_.ops.size(); ++i) {
    const Op& op = program_.ops[i];
    max_activation_ = std::max(max_activation_, shape_numel(op.out_shape));
    depth += op.kind == OpKind::save ? 1 : op.kind == OpKind::add ? -1 : 0;
    max_saved_ = std::max(max_saved_, depth);
    if (!kernels_) continue;
    FastOp& f = fast_[i];
    f.kernels = kernels_;
    if (op.kind == OpKind::add) {
      if (!vector_requantizable(op.multiplier.data<int32_t>(), op.shift.data<int32_t>(), 3))
        f.kernels = &scalar_kernel_table();
      continue;
    }
    if (op.kind != OpKind::conv2d && op.kind != OpKind::linear) continue;
    const int64_t oc = op.out_shape[0];
    f.vector_requant = !op.output_scale.defined() &&
                       vector_requantizable(op.multiplier.data<int32_t>(), op.shift.data<int32_t>(), oc);
    if (op.kind == OpKind::linear) {
      f.packed.push_back(kernels_->pack(op.weight.data<int8_t>(), oc, op.in_shape[0], op.bias.data<int32_t>(),
                                        op.input_zero_point));
      continue;
    }
    const int64_t channels = op.in_shape[0], icg = channels / op.groups, ocg = oc / op.groups;
    const int64_t taps = op.kernel * op.kernel;
    f.depthwise = icg == 1 && ocg == 1 && !op.output_scale.defined();
    if (f.depthwise) {
      if (!f.vector_requant || channels % kernels_->depthwise_channel_multiple != 0) f.kernels = &scalar_kernel_table();  // [channel][tap] → [tap][channel], as int32 for the vector multiply
      const int8_t* w = op.weight.data<int8_t>();
      f.depthwise_weights.resize(static_cast<size_t>(taps * channels));
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t t = 0; t < taps; ++t) f.depthwise_weights[static_cast<size_t>(t * channels + c)] = w[c * taps + t];
      if (f.kernels->prepare_depthwise)
        f.depthwise_prepared = f.kernels->prepare_depthwise(channels, op.kernel, op.stride, op.input_zero_point,
                                                            f.depthwise_weights.data(), op.bias.data<int32_t>(),
                                                            channel_requant(op));
      continue;
    }
    const std::vector<int8_t> w = weights_to_nhwc(op.weight.data<int8_t>(), oc, icg, op.kernel);
    // A window row of at most kSegmentedRun bytes (the stems' 3 channels: 9 and 21 bytes) is
    // read in place from the padded image: im2col of such short runs cost more than the GEMM
    // (MobileNetV1-0.75's stem at batch 16: 17% of the program).
    constexpr int64_t kSegmentedRun = 32;
    const int64_t run = op.kernel * channels;
    if (op.groups == 1 && op.kernel > 1 && run <= kSegmentedRun && f.vector_requant && kernels_->gemm_segmented) {
      f.segmented = true;
      f.segment_bytes = (run + 3) / 4 * 4;
      const int64_t k = op.kernel * f.segment_bytes;
      const std::vector<int8_t> spread = weights_to_segments(w.data(), oc, op.kernel, run, f.segment_bytes);
      f.packed.push_back(pack_weights_padded(spread.data(), oc, k, k, op.bias.data<int32_t>(), op.input_zero_point));
      continue;
    }
    for (int64_t g = 0; g < op.groups; ++g)
      f.packed.push_back(kernels_->pack(w.data() + g * ocg * taps * icg, ocg, taps * icg,
                                        op.bias.data<int32_t>() + g * ocg, op.input_zero_point));
    // The activation rows themselves are the GEMM's rows when they hold exactly k_padded bytes.
    f.direct = op.kernel == 1 && op.stride == 1 && op.padding == 0 && op.groups == 1 &&
               f.packed[0].k_padded == channels;
  }
}

ChannelRequant Executor::channel_requant(const Op& op, int64_t first_channel) const {
  return {op.multiplier.data<int32_t>() + first_channel, op.shift.data<int32_t>() + first_channel,
          op.output_zero_point, op.clamp_min, op.clamp_max};
}

void Executor::finish(const Op& op, int64_t channel, int32_t acc, uint8_t* code, float* logit) const {
  if (op.output_scale.defined()) {
    *logit = static_cast<float>(acc) * op.output_scale.data<float>()[channel];
    return;
  }
  *code = requantize(acc, multiplier_of(op, channel), op.output_zero_point, op.clamp_min, op.clamp_max);
}

void Executor::run_linear(size_t index, const uint8_t* in, int64_t batch, uint8_t* out, float* logits) const {
  const Op& op = program_.ops[index];
  const int64_t k = op.in_shape[0], oc = op.out_shape[0];
  // Row blocks of the batch: one GEMM each, so the weights are read once per block.
  parallel_for(batch, 8, [&](int64_t begin, int64_t end) {
    const int64_t rows = end - begin;
    std::vector<int32_t> acc;  // raw accumulators, when the GEMM does not write codes itself
    if (kernels_) {
      const PackedWeights& pw = fast_[index].packed[0];
      std::vector<uint8_t> padded;
      const uint8_t* x = in + begin * k;
      if (k != pw.k_padded) {  // rows of k_padded readable bytes
        padded.resize(static_cast<size_t>(rows * pw.k_padded));
        for (int64_t r = 0; r < rows; ++r) std::memcpy(padded.data() + r * pw.k_padded, x + r * k, static_cast<size_t>(k));
        x = padded.data();
      }
      GemmOutput to;
      const GemmFn gemm = kernels_->gemm;
      if (fast_[index].vector_requant) {  // codes straight from the GEMM
        to.codes = out + begin * oc;
        to.requant = channel_requant(op);
        to.small_sums = pw.small_sums;
        to.ld = oc;
        gemm(x, rows, pw.k_padded, pw.k_padded, oc, pw.data.data(), pw.bias.data(), 0, oc, to);
        return;
      }
      acc.resize(static_cast<size_t>(rows * oc));
      to.acc = acc.data();
      to.ld = oc;
      gemm(x, rows, pw.k_padded, pw.k_padded, oc, pw.data.data(), pw.bias.data(), 0, oc, to);
    } else {
      acc.resize(static_cast<size_t>(rows * oc));
      linear_acc_reference(rows, k, oc, in + begin * k, op.input_zero_point, op.weight.data<int8_t>(),
                           op.bias.data<int32_t>(), acc.data());
    }
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < oc; ++c)
        finish(op, c, acc[static_cast<size_t>(r * oc + c)], out + (begin + r) * oc + c,
               logits ? logits + (begin + r) * oc + c : nullptr);
  });
}

void Executor::run_add(size_t index, const uint8_t* in, const uint8_t* saved, int64_t batch, uint8_t* out) const {
  const Op& op = program_.ops[index];
  AddParams p;
  p.a_zero_point = op.input_zero_point;
  p.b_zero_point = op.saved_zero_point;
  for (int i = 0; i < 3; ++i) {
    p.multiplier[i] = op.multiplier.data<int32_t>()[i];
    p.shift[i] = op.shift.data<int32_t>()[i];
  }
  p.zero_point = op.output_zero_point;
  p.lo = op.clamp_min;
  p.hi = op.clamp_max;
  const AddFn add = kernels_ ? fast_[index].kernels->add : add_reference;
  const int64_t n = batch * shape_numel(op.in_shape);
  parallel_for(n, 1 << 14, [&](int64_t begin, int64_t end) {
    add(in + begin, saved + begin, end - begin, p, out + begin);
  });
}

void Executor::run_pool(size_t index, const uint8_t* in, int64_t batch, uint8_t* out) const {
  const Op& op = program_.ops[index];
  const int64_t c = op.in_shape[0], h = op.in_shape[1], w = op.in_shape[2];
  const int64_t oh = op.out_shape[1], ow = op.out_shape[2];
  const bool max = op.kind == OpKind::max_pool;
  // Average: Σ (x − z) over the window requantized with M = s_x / (s_y · k²), the padding
  // counted in the window as in float (count_include_pad) and adding nothing in these units.
  auto average = [&](int32_t sum) {
    return requantize(sum, multiplier_of(op, 0), op.output_zero_point, op.clamp_min, op.clamp_max);
  };
  // Output rows (image, oy) split over the threads; NHWC pools all channels of a pixel in
  // one pass over contiguous bytes, NCHW one plane at a time.
  const bool nhwc = kernels_ != nullptr;
  const MaxPoolFn max_nhwc = nhwc ? kernels_->max_pool : max_pool_nhwc_reference;
  parallel_for(batch * oh, 4, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> acc(static_cast<size_t>(c));
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / oh, oy = row % oh;
      const uint8_t* x = in + n * c * h * w;
      uint8_t* y = out + n * c * oh * ow;
      if (nhwc && max) {
        max_nhwc(x, h, w, c, op.kernel, op.stride, op.padding, ow, oy, oy + 1, y);
        continue;
      }
      const int64_t y0 = oy * op.stride - op.padding;
      const int64_t ya = std::max<int64_t>(y0, 0), yb = std::min(y0 + op.kernel, h);
      for (int64_t ox = 0; ox < ow; ++ox) {
        const int64_t x0 = ox * op.stride - op.padding;
        const int64_t xa = std::max<int64_t>(x0, 0), xb = std::min(x0 + op.kernel, w);
        if (nhwc) {  // average pooling: channel sums over the window, then requantized
          std::fill(acc.begin(), acc.end(), 0);
          for (int64_t iy = ya; iy < yb; ++iy)
            for (int64_t ix = xa; ix < xb; ++ix) {
              const uint8_t* px = x + (iy * w + ix) * c;
              for (int64_t ch = 0; ch < c; ++ch) acc[static_cast<size_t>(ch)] += px[ch] - op.input_zero_point;
            }
          uint8_t* py = y + (oy * ow + ox) * c;
          for (int64_t ch = 0; ch < c; ++ch) py[ch] = average(acc[static_cast<size_t>(ch)]);
          continue;
        }
        for (int64_t ch = 0; ch < c; ++ch) {
          int32_t best = 0, sum = 0;
          for (int64_t iy = ya; iy < yb; ++iy)
            for (int64_t ix = xa; ix < xb; ++ix) {
              const int32_t v = x[(ch * h + iy) * w + ix];
              best = std::max(best, v);
              sum += v - op.input_zero_point;
            }
          y[(ch * oh + oy) * ow + ox] = max ? static_cast<uint8_t>(best) : average(sum);
        }
      }
    }
  });
}

namespace {

// An op whose estimated time on one core is below this runs on one thread: cheaper than the
// wake-up and barrier of two (LeNet at batch 1 is all such ops).
constexpr double kParallelNanoseconds = 10000;

// The op's estimated time per example on one core, in ns: its work (multiply-adds, window
// reads, values) over what the fast kernels do per ns (bench_int8, one thread, AMD Zen 5 and
// Intel Xeon alike within 2x): GEMM multiply-adds run ten times faster than depthwise ones
// and a hundred times faster than residual additions, so one work threshold for all
// left 60 µs additions (ResNet-18's, batch 1) on one thread.
double op_nanoseconds(const Op& op) {
  const auto out = static_cast<double>(shape_numel(op.out_shape));
  const auto taps = static_cast<double>(op.kernel * op.kernel);
  constexpr double kGemmMacsPerNs = 400, kDepthwiseMacsPerNs = 45, kWindowReadsPerNs = 100, kAddsPerNs = 3,
                   kBytesPerNs = 20;
  switch (op.kind) {
    case OpKind::conv2d: {
      const int64_t per_group = op.in_shape[0] / op.groups;
      return per_group == 1 ? out * taps / kDepthwiseMacsPerNs : out * static_cast<double>(per_group) * taps / kGemmMacsPerNs;
    }
    case OpKind::linear: return out * static_cast<double>(op.in_shape[0]) / kGemmMacsPerNs;
    case OpKind::max_pool:
    case OpKind::avg_pool: return out * taps / kWindowReadsPerNs;
    case OpKind::add: return out / kAddsPerNs;
    default: return out / kBytesPerNs;
  }
}

// [planes][pixels] → [pixels][planes] for each of `batch` examples, in blocks of pixels
// split over the threads (the input of a batch-1 224x224 image is 150,528 bytes).
void transpose_examples(const uint8_t* in, int64_t batch, int64_t planes, int64_t pixels, uint8_t* out) {
  constexpr int64_t kBlock = 2048;
  const int64_t blocks = (pixels + kBlock - 1) / kBlock;
  parallel_for(batch * blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t n = t / blocks, p0 = (t % blocks) * kBlock, p1 = std::min(pixels, p0 + kBlock);
      const uint8_t* x = in + n * planes * pixels;
      uint8_t* y = out + n * planes * pixels;
      for (int64_t p = p0; p < p1; ++p)
        for (int64_t c = 0; c < planes; ++c) y[p * planes + c] = x[c * pixels + p];
    }
  });
}

}  // namespace

Tensor Executor::op_output_codes(size_t index, const uint8_t* activation, int64_t batch) const {
  const Shape& shape = program_.ops[index].out_shape;
  Shape full{batch};
  full.insert(full.end(), shape.begin(), shape.end());
  Tensor out = Tensor::uninitialized(full, DType::u8);
  // The fast path keeps images NHWC: [H·W][C] back to the program's [C][H·W].
  if (kernels_ && shape.size() == 3 && shape[1] * shape[2] > 1)
    transpose_examples(activation, batch, shape[1] * shape[2], shape[0], out.data<uint8_t>());
  else
    std::memcpy(out.data<uint8_t>(), activation, static_cast<size_t>(out.numel()));
  return out;
}

void Executor::run_chunk(const uint8_t* codes, int64_t batch, float* logits, std::vector<uint8_t*> buffers,
                         std::vector<double>* op_seconds, const OpObserver* observe) const {
  // Buffers of batch·max_activation_ bytes, used in turn: the current activation, the next,
  // and the ones saved for residual additions (swap and pop only move pointers).
  uint8_t* cur = buffers.back();
  buffers.pop_back();
  uint8_t* next = buffers.back();
  buffers.pop_back();
  std::vector<uint8_t*> saved;
  const Shape& input = program_.input_shape;
  if (kernels_)
    transpose_examples(codes, batch, input[0], input[1] * input[2], cur);
  else
    std::memcpy(cur, codes, static_cast<size_t>(batch * shape_numel(input)));
  auto clock = std::chrono::steady_clock::now();
  for (size_t i = 0; i < program_.ops.size(); ++i) {
    if (op_seconds && i > 0) {  // the previous op's time
      const auto now = std::chrono::steady_clock::now();
      (*op_seconds)[i - 1] = std::chrono::duration<double>(now - clock).count();
      clock = now;
    }
    if (observe && i > 0) (*observe)(i - 1, op_output_codes(i - 1, cur, batch));  // the previous op's output
    const Op& op = program_.ops[i];
    float* out_logits = op.output_scale.defined() ? logits : nullptr;
    // Ops of a few microseconds run on this thread alone (see kParallelNanoseconds).
    const SerialRegion serial(op_nanoseconds(op) * static_cast<double>(batch) < kParallelNanoseconds);
    switch (op.kind) {
      case OpKind::flatten:
        // NCHW: the same bytes under a new shape. NHWC: back to the program's (C, H, W) order.
        if (!kernels_ || op.in_shape[1] * op.in_shape[2] == 1) continue;
        transpose_examples(cur, batch, op.in_shape[1] * op.in_shape[2], op.in_shape[0], next);
        break;
      case OpKind::save:
        saved.push_back(buffers.back());
        buffers.pop_back();
        std::memcpy(saved.back(), cur, static_cast<size_t>(batch * shape_numel(op.in_shape)));
        continue;
      case OpKind::swap: std::swap(cur, saved.back()); continue;
      case OpKind::add:
        run_add(i, cur, saved.back(), batch, next);
        buffers.push_back(saved.back());
        saved.pop_back();
        break;
      case OpKind::max_pool:
      case OpKind::avg_pool: run_pool(i, cur, batch, next); break;
      case OpKind::conv2d:
        if (kernels_)
          run_conv_fast(i, cur, batch, next, out_logits);
        else
          run_conv_reference(i, cur, batch, next, out_logits);
        break;
      case OpKind::linear: run_linear(i, cur, batch, next, out_logits); break;
    }
    std::swap(cur, next);
  }
  if (op_seconds) op_seconds->back() = std::chrono::duration<double>(std::chrono::steady_clock::now() - clock).count();
  if (observe) {  // the last op's logits (validate: it outputs float)
    Tensor out = Tensor::uninitialized({batch, program_.num_outputs()});
    std::memcpy(out.data<float>(), logits, static_cast<size_t>(out.numel()) * sizeof(float));
    (*observe)(program_.ops.size() - 1, out);
  }
}

Tensor Executor::run_codes_contiguous(const uint8_t* codes, int64_t batch) const {
  // Slices of the batch keep the activations near the caches (a 224x224 MobileNet runs
  // image by image, LeNet hundreds at a time). Small examples (LeNet's): each thread runs
  // whole slices through every layer, no barrier between layers (1.8x LeNet's throughput
  // at batch 64), taking the next slice when done: four per thread, so a thread that shares
  // its core with another process takes fewer, instead of the others waiting for it. Large
  // examples: the layers split each slice over the threads, which keeps a layer's working
  // set in both cores' caches (MobileNetV1 at batch 16: 1.2x).
  constexpr int64_t kSliceBytes = int64_t{4} << 20, kSmallExample = int64_t{64} << 10, kSlicesPerThread = 4;
  const int64_t per_example = shape_numel(program_.input_shape), classes = program_.num_outputs();
  const int64_t threads = num_threads();
  int64_t slice = std::clamp<int64_t>(kSliceBytes / max_activation_, 1, std::max<int64_t>(batch, 1));
  const bool per_thread = max_activation_ <= kSmallExample && batch >= threads;
  if (per_thread) slice = std::min(slice, std::max<int64_t>(1, batch / (threads * kSlicesPerThread)));
  const int64_t slices = (batch + slice - 1) / slice;
  const int64_t workers = per_thread ? std::min(threads, slices) : 1;
  Tensor logits = Tensor::empty({batch, classes});
  float* out = logits.data<float>();
  std::atomic<int64_t> next_slice{0};
  parallel_for(workers, 1, [&](int64_t begin, int64_t end) {
    for (int64_t worker = begin; worker < end; ++worker) {
      std::vector<uint8_t*> buffers;  // once per call and worker
      const std::vector<Tensor> storage = activation_buffers(slice, buffers);
      for (int64_t k = next_slice++; k < slices; k = next_slice++) {
        const int64_t start = k * slice, count = std::min(slice, batch - start);
        run_chunk(codes + start * per_example, count, out + start * classes, buffers);
      }
    }
  });
  return logits;
}

std::vector<Tensor> Executor::activation_buffers(int64_t examples, std::vector<uint8_t*>& pointers) const {
  // Through the tensor allocator (which recycles large blocks); not zeroed: every byte is
  // written before it is read.
  std::vector<Tensor> storage;
  for (int64_t i = 0; i < 2 + max_saved_; ++i) {
    storage.push_back(Tensor::uninitialized({examples * max_activation_}, DType::u8));
    pointers.push_back(storage.back().data<uint8_t>());
  }
  return storage;
}

Tensor Executor::checked_codes(const Tensor& codes_in) const {
  INTRAIN_CHECK(codes_in.defined() && codes_in.dtype() == DType::u8, "int8 executor: input codes must be u8");
  Tensor codes = codes_in.dim() == 3 ? codes_in.unsqueeze(0) : codes_in;
  Shape expected{codes.size(0)};
  expected.insert(expected.end(), program_.input_shape.begin(), program_.input_shape.end());
  INTRAIN_CHECK(codes.shape() == expected, "int8 executor: input ", shape_str(codes_in.shape()),
                " does not match the program's input [N, ", program_.input_shape[0], ", ", program_.input_shape[1], ", ",
                program_.input_shape[2], "]");
  return codes.contiguous();
}

std::vector<double> Executor::profile_ops(const Tensor& codes_in, int repeats) const {
  const Tensor codes = checked_codes(codes_in);
  const int64_t batch = codes.size(0);
  std::vector<uint8_t*> buffers;
  const std::vector<Tensor> storage = activation_buffers(batch, buffers);
  Tensor logits = Tensor::empty({batch, program_.num_outputs()});
  std::vector<double> best(program_.ops.size(), 1e30), seconds(program_.ops.size(), 0.0);
  for (int r = 0; r < repeats; ++r) {
    run_chunk(codes.data<uint8_t>(), batch, logits.data<float>(), buffers, &seconds);
    for (size_t i = 0; i < best.size(); ++i) best[i] = std::min(best[i], seconds[i]);
  }
  return best;
}

Tensor Executor::run_codes(const Tensor& codes_in) const {
  const Tensor codes = checked_codes(codes_in);
  return run_codes_contiguous(codes.data<uint8_t>(), codes.size(0));
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
  const int64_t n = codes.numel();
  for (int64_t i = 0; i < n; ++i) p[i] = table[((i / plane) % channels) * 256 + p[i]];
  return run_codes(codes);
}

Tensor Executor::quantized_input(const Tensor& input) const {
  INTRAIN_CHECK(input.defined() && input.dtype() == DType::f32, "int8 executor: float input must be f32");
  Tensor x = (input.dim() == 3 ? input.unsqueeze(0) : input).contiguous();
  Shape expected{x.size(0)};
  expected.insert(expected.end(), program_.input_shape.begin(), program_.input_shape.end());
  INTRAIN_CHECK(x.shape() == expected, "int8 executor: input ", shape_str(input.shape()),
                " does not match the program's input [N, ", program_.input_shape[0], ", ", program_.input_shape[1], ", ",
                program_.input_shape[2], "]");
  // Input quantization: docs/quantization.md §1 with the program's input scale and zero point.
  Tensor codes = Tensor::uninitialized(x.shape(), DType::u8);
  const float* px = x.data<float>();
  uint8_t* pc = codes.data<uint8_t>();
  const QuantizeInputFn quantize = kernels_ ? kernels_->quantize_input : quantize_input_reference;
  parallel_for(x.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
    quantize(px + begin, end - begin, program_.input_scale, program_.input_zero_point, pc + begin);
  });
  return codes;
}

Tensor Executor::run(const Tensor& input) const {
  const Tensor codes = quantized_input(input);
  return run_codes_contiguous(codes.data<uint8_t>(), codes.size(0));
}

Tensor Executor::run_with_op_outputs(const Tensor& input, const OpObserver& observe) const {
  const Tensor codes = quantized_input(input);
  const int64_t batch = codes.size(0);
  std::vector<uint8_t*> buffers;
  const std::vector<Tensor> storage = activation_buffers(batch, buffers);
  Tensor logits = Tensor::empty({batch, program_.num_outputs()});
  run_chunk(codes.data<uint8_t>(), batch, logits.data<float>(), buffers, nullptr, &observe);
  return logits;
}

}  // namespace intrain::int8
