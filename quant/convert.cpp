#include "quant/convert.hpp"

#include <cmath>

#include "core/autograd.hpp"
#include "int8/requantize.hpp"
#include "quant/fake_quant.hpp"
#include "quant/modules.hpp"
#include "quant/quant_math.hpp"

namespace intrain::quant {

namespace {

struct ActivationState {
  float scale = 0;
  int32_t zero_point = 0;
  Shape shape;  // per example
};

// Integer weight codes and per-channel scales for a quantized layer's weight as its
// quantizer sees it (BN-scaled when folding).
struct IntWeights {
  Tensor codes;               // i8, same shape as the weight
  std::vector<float> scales;  // per output channel
};

IntWeights integer_weights(const WeightQuantizer& q, const Tensor& effective_weight, const std::string& name) {
  NoGradGuard no_grad;
  const int64_t out = effective_weight.size(0);
  QuantScheme per_channel = q.scheme();
  per_channel.axis = 0;
  Tensor w = effective_weight.detach().contiguous();
  QuantParams params;
  if (q.scale_free()) {
    // SAT/DoReFa: w_q = (2k − L)/L on L = 2^b − 1 levels, so the codes are the odd integers
    // 2k − L and the scale 1/L, times SAT's adjustment for layers without batch norm.
    const int levels = (1 << q.bits()) - 1;
    INTRAIN_CHECK(levels <= 127, "convert: layer '", name, "' has ", q.bits(), "-bit SAT weights, whose codes ",
                  "need more than int8; at most 7 bits are supported");
    Tensor codes = round_ste(mul(dorefa_weight(w, q.bits()), static_cast<float>(levels)));
    const float scale = q.sat_scale_factor(w) / static_cast<float>(levels);
    return {codes.to(DType::i8), std::vector<float>(static_cast<size_t>(out), scale)};
  }
  if (q.step().defined()) {
    params = {q.step().detach().contiguous().reshape({-1}), Tensor::zeros({q.step().numel()}, DType::i32)};
    if (params.scale.numel() == 1) params.scale = Tensor::full({out}, params.scale.item());
    params.zero_point = Tensor::zeros({out}, DType::i32);
  } else {
    params = q.params_for(w);
    if (params.scale.numel() == 1) {
      params.scale = Tensor::full({out}, params.scale.item());
      params.zero_point = Tensor::zeros({out}, DType::i32);
    }
  }
  INTRAIN_CHECK(q.bits() <= 8, "convert: layer '", name, "' has ", q.bits(), "-bit weights; at most 8 are supported");
  return {quantize(w, params, per_channel).to(DType::i8), params.scale.to_vector<float>()};
}

}  // namespace

int8::Program convert(nn::Module& model, const Shape& input_shape, const std::string& model_name) {
  INTRAIN_CHECK(input_shape.size() == 3, "convert: input shape must be [C, H, W], got ", shape_str(input_shape));
  model.eval();
  NoGradGuard no_grad;
  int8::Program program;
  program.model = model_name;
  program.input_shape = input_shape;
  const auto& children = model.children();
  ActivationState act;
  bool have_input = false;
  for (size_t i = 0; i < children.size(); ++i) {
    const std::string& name = children[i].first;
    nn::Module* m = children[i].second.get();
    auto fail = [&](const std::string& why) { throw Error("convert: layer '" + name + "' (" + m->type_name() + "): " + why); };
    if (dynamic_cast<nn::Dropout*>(m) || dynamic_cast<nn::BatchNorm2d*>(m) || dynamic_cast<QuantAct*>(m)) {
      // Batch norms and activations are consumed by the conv/linear before them.
      if (!dynamic_cast<nn::Dropout*>(m)) fail("is not preceded by a quantized conv or linear layer");
      continue;
    }
    if (dynamic_cast<nn::Flatten*>(m)) {
      int8::Op op;
      op.kind = int8::OpKind::flatten;
      op.in_shape = act.shape;
      op.out_shape = {shape_numel(act.shape)};
      act.shape = op.out_shape;
      program.ops.push_back(op);
      continue;
    }
    if (auto* mp = dynamic_cast<nn::MaxPool2d*>(m)) {
      int8::Op op;
      op.kind = int8::OpKind::max_pool;
      op.kernel = mp->options().kernel_h;
      op.stride = mp->options().stride_h ? mp->options().stride_h : op.kernel;
      op.padding = mp->options().pad_h;
      op.in_shape = act.shape;
      op.out_shape = {act.shape[0], (act.shape[1] + 2 * op.padding - op.kernel) / op.stride + 1,
                      (act.shape[2] + 2 * op.padding - op.kernel) / op.stride + 1};
      if (op.padding > 0 && act.zero_point != 0) fail("padded max pooling needs a zero point of 0");
      act.shape = op.out_shape;
      program.ops.push_back(op);
      continue;
    }
    auto* conv = dynamic_cast<QuantConv2d*>(m);
    auto* fc = dynamic_cast<QuantLinear*>(m);
    if (!conv && !fc) fail("has no integer equivalent (quantize the model with prepare_qat or prepare_ptq first)");
    // Input quantization, from the first layer's input quantizer.
    ActivationQuantizer* input_q = conv ? conv->input_quantizer() : fc->input_quantizer();
    if (!have_input) {
      if (!input_q) fail("the first layer must quantize the network input (activations quantized)");
      const QuantParams p = input_q->params();
      const QuantScheme in_scheme = input_q->scheme();
      INTRAIN_CHECK(in_scheme.bits == 8, "convert: the network input is quantized to ", in_scheme.bits,
                    " bits; the int8 program takes 8-bit input codes");
      program.input_scale = p.scale.item();
      // Signed codes q in [−128, 127] become unsigned codes q + 128 with the zero point moved
      // by the same 128: s·(q − z) = s·((q + 128) − (z + 128)), the same values exactly.
      program.input_zero_point = p.zero_point.item<int32_t>() - in_scheme.qmin();
      act = {program.input_scale, program.input_zero_point, input_shape};
      have_input = true;
    }
    int8::Op op;
    op.kind = conv ? int8::OpKind::conv2d : int8::OpKind::linear;
    op.in_shape = act.shape;
    op.input_zero_point = act.zero_point;
    const WeightQuantizer& wq = conv ? conv->weight_quantizer() : fc->weight_quantizer();
    op.weight_bits = wq.bits();
    Tensor bias = conv ? conv->bias : fc->bias;
    IntWeights w = integer_weights(wq, conv ? conv->effective_weight() : fc->weight, name);
    const int64_t out = w.codes.size(0);
    std::vector<float> float_bias(static_cast<size_t>(out), 0.0f);
    if (bias.defined()) float_bias = bias.to_vector<float>();
    size_t next = i + 1;
    if (conv) {
      INTRAIN_CHECK(act.shape.size() == 3, "convert: layer '", name, "' expects an image input");
      const auto& o = conv->conv_options();
      INTRAIN_CHECK(o.stride_h == o.stride_w && o.pad_h == o.pad_w && o.dilation_h == 1 && o.dilation_w == 1 &&
                        w.codes.size(2) == w.codes.size(3),
                    "convert: layer '", name, "': only square kernels, strides and paddings without dilation are supported");
      op.kernel = w.codes.size(2);
      op.stride = o.stride_h;
      op.padding = o.pad_h;
      op.groups = o.groups;
      op.out_shape = {out, (act.shape[1] + 2 * op.padding - op.kernel) / op.stride + 1,
                      (act.shape[2] + 2 * op.padding - op.kernel) / op.stride + 1};
      // A following batch norm folds in: y = f·conv + (β − f·μ) with f = γ/σ; a folding
      // quantizer already scaled the weight by f, so only the bias changes (b → f·b + β − f·μ).
      if (next < children.size()) {
        if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(children[next].second.get())) {
          const auto mean = bn->running_mean.to_vector<float>(), var = bn->running_var.to_vector<float>();
          const auto gamma = bn->weight.defined() ? bn->weight.to_vector<float>() : std::vector<float>(mean.size(), 1.0f);
          const auto beta = bn->bias.defined() ? bn->bias.to_vector<float>() : std::vector<float>(mean.size(), 0.0f);
          for (int64_t c = 0; c < out; ++c) {
            const auto k = static_cast<size_t>(c);
            const float f = gamma[k] / std::sqrt(var[k] + bn->eps);
            float_bias[k] = f * float_bias[k] + beta[k] - f * mean[k];
            if (wq.scale_free()) w.scales[k] *= f;  // SAT: the BN scale goes into the weight scale
          }
          ++next;
        }
      }
      if (wq.scale_free() == false && conv->folds_batch_norm() && next == i + 1)
        fail("folds a batch norm that does not follow it");
    } else {
      INTRAIN_CHECK(act.shape.size() == 1, "convert: layer '", name, "' needs a flattened input, got ",
                    shape_str(act.shape));
      op.out_shape = {out};
    }
    op.weight = w.codes;
    // int32 bias in accumulator units s_in·s_w[c].
    Tensor bias_codes = Tensor::empty({out}, DType::i32);
    int32_t* pb = bias_codes.data<int32_t>();
    for (int64_t c = 0; c < out; ++c)
      pb[c] = static_cast<int32_t>(std::llround(float_bias[static_cast<size_t>(c)] / (act.scale * w.scales[static_cast<size_t>(c)])));
    op.bias = bias_codes;
    // Skip dropout; then a quantized activation sets the output codes, or the layer is last.
    while (next < children.size() && dynamic_cast<nn::Dropout*>(children[next].second.get())) ++next;
    QuantAct* qa = next < children.size() ? dynamic_cast<QuantAct*>(children[next].second.get()) : nullptr;
    if (qa) {
      const ActivationQuantizer& aq = qa->quantizer();
      const QuantParams p = aq.params();
      const float out_scale = p.scale.item();
      const int32_t out_zp = p.zero_point.item<int32_t>();
      Tensor mult = Tensor::empty({out}, DType::i32), shift = Tensor::empty({out}, DType::i32);
      for (int64_t c = 0; c < out; ++c) {
        const int8::FixedPointMultiplier fm =
            int8::quantize_multiplier(static_cast<double>(act.scale) * w.scales[static_cast<size_t>(c)] / out_scale);
        mult.data<int32_t>()[c] = fm.multiplier;
        shift.data<int32_t>()[c] = fm.shift;
      }
      op.multiplier = mult;
      op.shift = shift;
      op.output_zero_point = out_zp;
      // The ReLU (or ReLU6, or PACT's clip) is the clamp: codes from the zero point up.
      op.clamp_min = std::max<int32_t>(out_zp, aq.scheme().qmin());
      op.clamp_max = aq.scheme().qmax();
      if (qa->is_relu6()) op.clamp_max = std::min(op.clamp_max, out_zp + static_cast<int32_t>(std::floor(6.0f / out_scale)));
      act = {out_scale, out_zp, op.out_shape};
      i = next;
    } else {
      if (next < children.size()) fail("its output is not quantized by an activation and it is not the last layer");
      // The logits: acc · s_in·s_w[c] (+ the bias, already in acc).
      Tensor scale = Tensor::empty({out});
      for (int64_t c = 0; c < out; ++c) scale.data<float>()[c] = act.scale * w.scales[static_cast<size_t>(c)];
      op.output_scale = scale;
      i = next - 1;
    }
    program.ops.push_back(op);
  }
  program.validate();
  return program;
}

}  // namespace intrain::quant
