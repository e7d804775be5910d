// Convolutions through oneDNN primitives. The caller's memory is plain NCHW / (G)OIHW;
// in the blocked layout oneDNN chooses its own formats and we reorder at the edges.
// Primitives and the scratch buffers of chosen layouts are built once per shape, pass and
// layout, and kept: building a primitive descriptor costs far more than running a small
// convolution. Ops call these from one thread at a time (scratch buffers are per shape).
#include <algorithm>
#include <array>
#include <limits>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "core/kernels/conv.hpp"
#include "core/kernels/onednn_context.hpp"
#include "core/storage.hpp"
#include "core/threads.hpp"

namespace intrain::kernels {

namespace {

using dnnl::memory;
using tag = memory::format_tag;
constexpr auto f32 = memory::data_type::f32;
constexpr auto bf16 = memory::data_type::bf16;

// The buffers one call reorders through, from the storage block cache (core/storage.hpp), so
// repeated shapes reuse the same pages. They live for the call, not with the cached primitive:
// kept per primitive, every layer's blocked input and output stayed allocated for good
// (MobileNetV2 evaluation at 224x224 held about 55 MB per image of the batch: 1 GB at 13).
struct CallBuffers {
  std::vector<std::unique_ptr<Storage>> held;
  memory make(const memory::desc& md) {
    if (md.get_size() == 0) return memory(md, onednn_engine(), nullptr);
    held.push_back(std::make_unique<Storage>(md.get_size(), /*zero_fill=*/false));
    return memory(md, onednn_engine(), held.back()->data());
  }
};

// A primitive's argument in the layout the primitive chose; calls reorder through a buffer of
// CallBuffers when that differs from the caller's plain layout.
struct Operand {
  memory::desc user, chosen;
  Operand(const memory::desc& user_md, const memory::desc& chosen_md) : user(user_md), chosen(chosen_md) {}
  // The memory to hand the primitive for an input, reordered from the caller's data.
  memory input(const float* data, CallBuffers& buffers) const {
    memory plain(user, onednn_engine(), const_cast<float*>(data));
    if (chosen == user) return plain;
    memory scratch = buffers.make(chosen);
    dnnl::reorder(plain, scratch).execute(onednn_stream(), plain, scratch);
    return scratch;
  }
  // The memory the primitive writes an output into; finish_output copies it back.
  memory output(float* data, CallBuffers& buffers) const {
    return chosen == user ? memory(user, onednn_engine(), data) : buffers.make(chosen);
  }
  void finish_output(memory written, float* data) const {
    if (chosen == user) return;
    memory plain(user, onednn_engine(), data);
    dnnl::reorder(written, plain).execute(onednn_stream(), written, plain);
  }
};

struct Forward {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward primitive;
  Operand src, weights, dst;
};

struct BackwardData {
  dnnl::convolution_backward_data primitive;
  memory::desc scratchpad;
  Operand diff_dst, weights, diff_src;
};

struct BackwardWeights {
  dnnl::convolution_backward_weights primitive;
  memory::desc scratchpad;
  Operand src, diff_dst, diff_weights;
};

// Everything built for one shape (and bias or not), indexed by layout (0 plain, 1 blocked).
struct ConvPrimitives {
  memory::desc src, weights, bias, dst;  // the caller's plain layouts
  std::array<std::unique_ptr<Forward>, 2> forward;
  std::array<std::unique_ptr<BackwardData>, 2> backward_data;
  std::array<std::unique_ptr<BackwardWeights>, 2> backward_weights;
};

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                       int64_t, int64_t, int64_t, int64_t, bool, int, bool>;

Key key_of(const Conv2dParams& p, bool bias) {
  return {p.batch,    p.in_channels, p.in_h,       p.in_w,       p.out_channels, p.kernel_h,
          p.kernel_w, p.stride_h,    p.stride_w,   p.pad_h,      p.pad_w,        p.dilation_h,
          p.dilation_w, p.groups,    bias,         static_cast<int>(p.activation), p.bf16};
}

// The primitives' scratchpads come from each call's buffers (scratchpad_mode::user), for the
// reason CallBuffers gives: oneDNN's own kept one per primitive.
dnnl::primitive_attr user_scratchpad_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::primitive_attr activation_attr(ConvActivation activation) {
  dnnl::primitive_attr attr = user_scratchpad_attr();
  if (activation == ConvActivation::none) return attr;
  dnnl::post_ops ops;
  if (activation == ConvActivation::relu)
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  else
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, 0.0f, 6.0f);
  attr.set_post_ops(ops);
  return attr;
}

memory::dims strides_of(const Conv2dParams& p) { return {p.stride_h, p.stride_w}; }
memory::dims dilations_of(const Conv2dParams& p) { return {p.dilation_h - 1, p.dilation_w - 1}; }
memory::dims padding_of(const Conv2dParams& p) { return {p.pad_h, p.pad_w}; }
// oneDNN wants right padding consistent with the output size PyTorch's floor gives.
memory::dims padding_right_of(const Conv2dParams& p) {
  return {(p.out_h() - 1) * p.stride_h + (p.kernel_h - 1) * p.dilation_h + 1 - p.in_h - p.pad_h,
          (p.out_w() - 1) * p.stride_w + (p.kernel_w - 1) * p.dilation_w + 1 - p.in_w - p.pad_w};
}

// The descriptor oneDNN sees: the plain one, or "any" to let it choose. Under bf16 the
// operands a convolution multiplies are bf16 (Operand reorders f32 into them) and what it
// writes stays f32.
memory::desc in_layout(const memory::desc& md, bool blocked) {
  return blocked ? memory::desc(md.dims(), f32, tag::any) : md;
}
memory::desc multiplied(const memory::desc& md, const Conv2dParams& p, bool blocked) {
  return p.bf16 ? memory::desc(md.dims(), bf16, tag::any) : in_layout(md, blocked);
}

ConvPrimitives& primitives_for(const Conv2dParams& p, bool with_bias) {
  static std::mutex mutex;
  static std::map<Key, std::unique_ptr<ConvPrimitives>> cache;
  std::lock_guard lock(mutex);
  auto& slot = cache[key_of(p, with_bias)];
  if (slot) return *slot;
  slot = std::make_unique<ConvPrimitives>();
  slot->src = memory::desc({p.batch, p.in_channels, p.in_h, p.in_w}, f32, tag::nchw);
  slot->dst = memory::desc({p.batch, p.out_channels, p.out_h(), p.out_w()}, f32, tag::nchw);
  slot->weights = p.groups == 1
      ? memory::desc({p.out_channels, p.in_channels, p.kernel_h, p.kernel_w}, f32, tag::oihw)
      : memory::desc({p.groups, p.out_channels / p.groups, p.in_channels / p.groups, p.kernel_h, p.kernel_w},
                     f32, tag::goihw);
  slot->bias = with_bias ? memory::desc({p.out_channels}, f32, tag::x) : memory::desc();
  return *slot;
}

Forward& forward_for(ConvPrimitives& c, const Conv2dParams& p, bool blocked) {
  auto& f = c.forward[blocked];
  if (!f) {
    dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                         multiplied(c.src, p, blocked), multiplied(c.weights, p, blocked), c.bias,
                                         in_layout(c.dst, blocked), strides_of(p), dilations_of(p), padding_of(p),
                                         padding_right_of(p));
    // The activation as a post-op in the blocked layout only: oneDNN's plain-layout (GEMM-based)
    // convolutions apply post-ops slowly (a 1x1 conv ran 6x slower); there it runs after.
    const ConvActivation post_op = blocked ? p.activation : ConvActivation::none;
    dnnl::convolution_forward::primitive_desc pd(desc, activation_attr(post_op), onednn_engine());
    f.reset(new Forward{pd, dnnl::convolution_forward(pd), Operand(c.src, pd.src_desc()),
                        Operand(c.weights, pd.weights_desc()), Operand(c.dst, pd.dst_desc())});
  }
  return *f;
}

memory wrap(const memory::desc& md, const float* data) {
  return memory(md, onednn_engine(), const_cast<float*>(data));
}

bool resolve_blocked(ConvLayout layout, const Conv2dParams& p, ConvPass pass) {
  if (p.bf16) return true;
  if (layout == ConvLayout::routed) layout = choose_conv_layout(p, pass);
  return layout == ConvLayout::blocked;
}

template <class F>
void run_guarded(const char* what, const Conv2dParams& p, F&& f) {
  try {
    f();
  } catch (const dnnl::error& e) {
    throw Error(std::string("conv2d ") + what + ": oneDNN failed (" + e.what() + ") for input [" +
                std::to_string(p.batch) + ", " + std::to_string(p.in_channels) + ", " + std::to_string(p.in_h) +
                ", " + std::to_string(p.in_w) + "], " + std::to_string(p.out_channels) +
                " output channels, groups " + std::to_string(p.groups) + (p.bf16 ? ", bf16" : ""));
  }
}

int parse_layout_override() {
  const char* env = std::getenv("INTRAIN_CONV_LAYOUT");
  if (!env || !*env) return -1;
  const std::string v = env;
  if (v == "plain") return static_cast<int>(ConvLayout::plain);
  if (v == "blocked") return static_cast<int>(ConvLayout::blocked);
  throw Error("INTRAIN_CONV_LAYOUT: expected plain or blocked, got '" + v + "'");
}

}  // namespace

const char* conv_layout_name(ConvLayout layout) {
  switch (layout) {
    case ConvLayout::routed: return "routed";
    case ConvLayout::plain: return "plain";
    case ConvLayout::blocked: return "blocked";
  }
  return "?";
}

ConvLayout choose_conv_layout(const Conv2dParams& p, ConvPass pass) {
  static const int forced = parse_layout_override();
  if (forced >= 0) return static_cast<ConvLayout>(forced);
  // Measured by bench/bench_conv on AVX-512: oneDNN's plain-layout path is im2col + GEMM,
  // which is good for dense convolutions with many input channels and poor for grouped
  // and depthwise ones (no GEMM to speak of: 7-12x slower than the blocked jit kernels)
  // and for few input channels (stem, LeNet conv1), except in backward-data, where the
  // blocked kernels pay for reorders of a large input gradient.
  // Its GEMMs run one image at a time with the output plane as one matrix side, so a plane
  // of 16 positions or fewer starves them: MobileNetV1-0.75's 2x2x768 pointwise at batch 128
  // runs 2.8x / 2.7x / 1.45x faster blocked (forward / backward data / weights), its 4x4x384
  // 0.88x / 1.44x / 1.57x, while at 8x8x256 plain stays 1.47x ahead [Zen 3, bench_conv].
  if (p.groups > 1) return ConvLayout::blocked;
  if (p.in_channels <= 4 && pass != ConvPass::backward_data) return ConvLayout::blocked;
  return ConvLayout::plain;
}

void conv2d_forward_onednn(const Conv2dParams& p, const float* x, const float* w, const float* bias, float* y,
                           ConvLayout layout) {
  run_guarded("forward", p, [&] {
    ConvPrimitives& c = primitives_for(p, bias != nullptr);
    const bool blocked = resolve_blocked(layout, p, ConvPass::forward);
    Forward& f = forward_for(c, p, blocked);
    CallBuffers buffers;
    const memory dst = f.dst.output(y, buffers);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, f.src.input(x, buffers)},
                                         {DNNL_ARG_WEIGHTS, f.weights.input(w, buffers)},
                                         {DNNL_ARG_DST, dst}};
    if (bias) args.emplace(DNNL_ARG_BIAS, wrap(c.bias, bias));
    args.emplace(DNNL_ARG_SCRATCHPAD, buffers.make(f.pd.scratchpad_desc()));
    f.primitive.execute(onednn_stream(), args);
    f.dst.finish_output(dst, y);
    onednn_stream().wait();
    if (!blocked && p.activation != ConvActivation::none) {
      const float hi = p.activation == ConvActivation::relu6 ? 6.0f : std::numeric_limits<float>::infinity();
      const int64_t n = p.batch * p.out_channels * p.out_h() * p.out_w();
      parallel_for(n, int64_t{1} << 16, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) y[i] = std::min(std::max(y[i], 0.0f), hi);
      });
    }
  });
}

void conv2d_backward_data_onednn(const Conv2dParams& p, const float* w, const float* dy, float* dx,
                                 ConvLayout layout) {
  run_guarded("backward data", p, [&] {
    const bool blocked = resolve_blocked(layout, p, ConvPass::backward_data);
    ConvPrimitives& c = primitives_for(p, false);
    auto& slot = c.backward_data[blocked];
    if (!slot) {
      dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, in_layout(c.src, blocked),
                                                 multiplied(c.weights, p, blocked), multiplied(c.dst, p, blocked),
                                                 strides_of(p), dilations_of(p), padding_of(p), padding_right_of(p));
      dnnl::convolution_backward_data::primitive_desc pd(desc, user_scratchpad_attr(), onednn_engine(),
                                                         forward_for(c, p, blocked).pd);
      slot.reset(new BackwardData{dnnl::convolution_backward_data(pd), pd.scratchpad_desc(), Operand(c.dst, pd.diff_dst_desc()),
                                  Operand(c.weights, pd.weights_desc()), Operand(c.src, pd.diff_src_desc())});
    }
    BackwardData& b = *slot;
    CallBuffers buffers;
    const memory diff_src = b.diff_src.output(dx, buffers);
    b.primitive.execute(onednn_stream(), {{DNNL_ARG_DIFF_DST, b.diff_dst.input(dy, buffers)},
                                          {DNNL_ARG_WEIGHTS, b.weights.input(w, buffers)},
                                          {DNNL_ARG_DIFF_SRC, diff_src},
                                          {DNNL_ARG_SCRATCHPAD, buffers.make(b.scratchpad)}});
    b.diff_src.finish_output(diff_src, dx);
    onednn_stream().wait();
  });
}

void conv2d_backward_weights_onednn(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                                    float* dbias, ConvLayout layout) {
  run_guarded("backward weights", p, [&] {
    const bool blocked = resolve_blocked(layout, p, ConvPass::backward_weights);
    ConvPrimitives& c = primitives_for(p, dbias != nullptr);
    auto& slot = c.backward_weights[blocked];
    if (!slot) {
      dnnl::convolution_backward_weights::desc desc(dnnl::algorithm::convolution_direct,
                                                    multiplied(c.src, p, blocked), in_layout(c.weights, blocked),
                                                    c.bias, multiplied(c.dst, p, blocked),
                                                    strides_of(p), dilations_of(p), padding_of(p),
                                                    padding_right_of(p));
      dnnl::convolution_backward_weights::primitive_desc pd(desc, user_scratchpad_attr(), onednn_engine(),
                                                            forward_for(c, p, blocked).pd);
      slot.reset(new BackwardWeights{dnnl::convolution_backward_weights(pd), pd.scratchpad_desc(), Operand(c.src, pd.src_desc()),
                                     Operand(c.dst, pd.diff_dst_desc()), Operand(c.weights, pd.diff_weights_desc())});
    }
    BackwardWeights& b = *slot;
    CallBuffers buffers;
    const memory diff_weights = b.diff_weights.output(dw, buffers);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, b.src.input(x, buffers)},
                                         {DNNL_ARG_DIFF_DST, b.diff_dst.input(dy, buffers)},
                                         {DNNL_ARG_DIFF_WEIGHTS, diff_weights}};
    if (dbias) args.emplace(DNNL_ARG_DIFF_BIAS, wrap(c.bias, dbias));
    args.emplace(DNNL_ARG_SCRATCHPAD, buffers.make(b.scratchpad));
    b.primitive.execute(onednn_stream(), args);
    b.diff_weights.finish_output(diff_weights, dw);
    onednn_stream().wait();
  });
}

}  // namespace intrain::kernels
