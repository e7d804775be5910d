// Convolutions through oneDNN primitives on plain NCHW / (G)OIHW memory. Primitives are
// built once per shape and kept: building a primitive descriptor costs far more than
// running a small convolution.
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "core/error.hpp"
#include "core/kernels/conv.hpp"
#include "core/kernels/onednn_context.hpp"

namespace intrain::kernels {

namespace {

using dnnl::memory;
using tag = memory::format_tag;
constexpr auto f32 = memory::data_type::f32;

struct ConvPrimitives {
  memory::desc src, weights, bias, dst;
  dnnl::convolution_forward::primitive_desc forward_pd;
  dnnl::convolution_forward forward;
  std::unique_ptr<dnnl::convolution_backward_data> backward_data;
  std::unique_ptr<dnnl::convolution_backward_weights> backward_weights;
};

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                       int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool>;

Key key_of(const Conv2dParams& p, bool bias) {
  return {p.batch, p.in_channels, p.in_h, p.in_w, p.out_channels, p.kernel_h, p.kernel_w,
          p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dilation_h, p.dilation_w, p.groups, bias};
}

memory::dims strides_of(const Conv2dParams& p) { return {p.stride_h, p.stride_w}; }
memory::dims dilations_of(const Conv2dParams& p) { return {p.dilation_h - 1, p.dilation_w - 1}; }
memory::dims padding_of(const Conv2dParams& p) { return {p.pad_h, p.pad_w}; }
// oneDNN wants right padding consistent with the output size PyTorch's floor gives.
memory::dims padding_right_of(const Conv2dParams& p) {
  return {(p.out_h() - 1) * p.stride_h + (p.kernel_h - 1) * p.dilation_h + 1 - p.in_h - p.pad_h,
          (p.out_w() - 1) * p.stride_w + (p.kernel_w - 1) * p.dilation_w + 1 - p.in_w - p.pad_w};
}

ConvPrimitives& primitives_for(const Conv2dParams& p, bool with_bias) {
  static std::mutex mutex;
  static std::map<Key, std::unique_ptr<ConvPrimitives>> cache;
  std::lock_guard lock(mutex);
  auto& slot = cache[key_of(p, with_bias)];
  if (slot) return *slot;
  auto& engine = onednn_engine();
  memory::desc src({p.batch, p.in_channels, p.in_h, p.in_w}, f32, tag::nchw);
  memory::desc dst({p.batch, p.out_channels, p.out_h(), p.out_w()}, f32, tag::nchw);
  memory::desc weights = p.groups == 1
      ? memory::desc({p.out_channels, p.in_channels, p.kernel_h, p.kernel_w}, f32, tag::oihw)
      : memory::desc({p.groups, p.out_channels / p.groups, p.in_channels / p.groups, p.kernel_h,
                      p.kernel_w}, f32, tag::goihw);
  memory::desc bias = with_bias ? memory::desc({p.out_channels}, f32, tag::x) : memory::desc();
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_training,
                                       dnnl::algorithm::convolution_direct, src, weights, bias, dst,
                                       strides_of(p), dilations_of(p), padding_of(p), padding_right_of(p));
  dnnl::convolution_forward::primitive_desc pd(desc, engine);
  slot.reset(new ConvPrimitives{src, weights, bias, dst, pd, dnnl::convolution_forward(pd), nullptr, nullptr});
  return *slot;
}

memory wrap(const memory::desc& md, const float* data) {
  return memory(md, onednn_engine(), const_cast<float*>(data));
}

template <class F>
void run_guarded(const char* what, const Conv2dParams& p, F&& f) {
  try {
    f();
  } catch (const dnnl::error& e) {
    throw Error(std::string("conv2d ") + what + ": oneDNN failed (" + e.what() + ") for input [" +
                std::to_string(p.batch) + ", " + std::to_string(p.in_channels) + ", " +
                std::to_string(p.in_h) + ", " + std::to_string(p.in_w) + "], " +
                std::to_string(p.out_channels) + " output channels, groups " + std::to_string(p.groups));
  }
}

}  // namespace

void conv2d_forward_onednn(const Conv2dParams& p, const float* x, const float* w, const float* bias, float* y) {
  run_guarded("forward", p, [&] {
    ConvPrimitives& c = primitives_for(p, bias != nullptr);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(c.src, x)},
                                         {DNNL_ARG_WEIGHTS, wrap(c.weights, w)},
                                         {DNNL_ARG_DST, wrap(c.dst, y)}};
    if (bias) args.emplace(DNNL_ARG_BIAS, wrap(c.bias, bias));
    c.forward.execute(onednn_stream(), args);
    onednn_stream().wait();
  });
}

void conv2d_backward_data_onednn(const Conv2dParams& p, const float* w, const float* dy, float* dx) {
  run_guarded("backward data", p, [&] {
    ConvPrimitives& c = primitives_for(p, false);
    if (!c.backward_data) {
      dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, c.src, c.weights,
                                                 c.dst, strides_of(p), dilations_of(p), padding_of(p),
                                                 padding_right_of(p));
      dnnl::convolution_backward_data::primitive_desc pd(desc, onednn_engine(), c.forward_pd);
      c.backward_data = std::make_unique<dnnl::convolution_backward_data>(pd);
    }
    c.backward_data->execute(onednn_stream(), {{DNNL_ARG_DIFF_DST, wrap(c.dst, dy)},
                                               {DNNL_ARG_WEIGHTS, wrap(c.weights, w)},
                                               {DNNL_ARG_DIFF_SRC, wrap(c.src, dx)}});
    onednn_stream().wait();
  });
}

void conv2d_backward_weights_onednn(const Conv2dParams& p, const float* x, const float* dy, float* dw,
                                    float* dbias) {
  run_guarded("backward weights", p, [&] {
    ConvPrimitives& c = primitives_for(p, dbias != nullptr);
    if (!c.backward_weights) {
      dnnl::convolution_backward_weights::desc desc(dnnl::algorithm::convolution_direct, c.src,
                                                    c.weights, c.bias, c.dst, strides_of(p),
                                                    dilations_of(p), padding_of(p), padding_right_of(p));
      dnnl::convolution_backward_weights::primitive_desc pd(desc, onednn_engine(), c.forward_pd);
      c.backward_weights = std::make_unique<dnnl::convolution_backward_weights>(pd);
    }
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(c.src, x)},
                                         {DNNL_ARG_DIFF_DST, wrap(c.dst, dy)},
                                         {DNNL_ARG_DIFF_WEIGHTS, wrap(c.weights, dw)}};
    if (dbias) args.emplace(DNNL_ARG_DIFF_BIAS, wrap(c.bias, dbias));
    c.backward_weights->execute(onednn_stream(), args);
    onednn_stream().wait();
  });
}

}  // namespace intrain::kernels
