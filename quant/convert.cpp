#include "quant/convert.hpp"

#include <cmath>

#include "core/autograd.hpp"
#include "int8/requantize.hpp"
#include "nn/structure.hpp"
#include "quant/modules.hpp"
#include "quant/quant_math.hpp"

namespace intrain::quant {

namespace {

// The executor's activations are u8 codes: signed codes q in [qmin, qmax] run as q − qmin,
// the zero point moved by the same amount, s·(q − z) = s·((q − qmin) − (z − qmin)): the same
// values exactly. Unsigned schemes (qmin = 0) are unchanged.
struct UnsignedCodes {
  int32_t zero_point, max;
};
UnsignedCodes as_unsigned(const QuantScheme& scheme, const QuantParams& params) {
  return {params.zero_point.item<int32_t>() - scheme.qmin(), scheme.qmax() - scheme.qmin()};
}

struct ActivationState {
  float scale = 0;
  int32_t zero_point = 0;
  Shape shape;  // per example
};

// The roles of a prepared model's modules, for the structure matcher: the quantized twins
// stand where their float layers stood. A float ReLU is no role: it has no integer twin.
nn::LayerRole quantized_role(const nn::Module& m) {
  if (dynamic_cast<const QuantConv2d*>(&m)) return nn::LayerRole::conv;
  if (dynamic_cast<const QuantLinear*>(&m)) return nn::LayerRole::linear;
  if (dynamic_cast<const QuantBatchNorm*>(&m) || dynamic_cast<const nn::BatchNorm2d*>(&m)) return nn::LayerRole::batch_norm;
  if (auto* act = dynamic_cast<const QuantAct*>(&m)) return act->is_relu6() ? nn::LayerRole::relu6 : nn::LayerRole::relu;
  if (dynamic_cast<const nn::Dropout*>(&m) || dynamic_cast<const nn::Identity*>(&m)) return nn::LayerRole::passthrough;
  if (dynamic_cast<const QuantResidual*>(&m)) return nn::LayerRole::residual;
  return nn::LayerRole::other;
}

class Converter {
 public:
  Converter(const Shape& input_shape, const std::string& model_name) {
    program_.model = model_name;
    program_.input_shape = input_shape;
  }

  int8::Program finish() {
    program_.validate();
    return std::move(program_);
  }

  // Emits the ops of a sequence of sibling modules (a Sequential's children) under the path
  // `prefix`. Batch norms, activations and dropout are consumed by the conv or linear layer
  // they follow. `tail`: the sequence ends the model, so its last layer may give the logits.
  void emit_sequence(const std::vector<std::pair<std::string, nn::ModulePtr>>& children, const std::string& prefix,
                     bool tail) {
    for (size_t i = 0; i < children.size(); ++i) {
      const std::string name = nn::join_path(prefix, children[i].first);
      nn::Module* m = children[i].second.get();
      const size_t emitted = program_.ops.size();
      if (dynamic_cast<nn::Identity*>(m) || dynamic_cast<nn::Dropout*>(m)) continue;
      if (dynamic_cast<nn::BatchNorm2d*>(m) || dynamic_cast<QuantAct*>(m) || dynamic_cast<QuantBatchNorm*>(m))
        fail(name, *m, "is not preceded by a quantized conv or linear layer");
      if (dynamic_cast<nn::Flatten*>(m)) {
        emit_flatten();
      } else if (auto* qp = dynamic_cast<QuantAvgPool*>(m)) {
        emit_avg_pool(*qp, name);
      } else if (auto* qr = dynamic_cast<QuantResidual*>(m)) {
        emit_residual(*qr, name);
      } else if (auto* nested = dynamic_cast<nn::Sequential*>(m)) {  // a block: its layers in order
        emit_sequence(nested->children(), name, tail && i + 1 == children.size());
      } else if (auto* mp = dynamic_cast<nn::MaxPool2d*>(m)) {
        emit_max_pool(*mp, name);
      } else if (dynamic_cast<QuantConv2d*>(m) || dynamic_cast<QuantLinear*>(m)) {
        i = emit_weight_layer(children, i, name, tail);
      } else {
        fail(name, *m, "has no integer equivalent (quantize the model with prepare_qat or prepare_ptq first)");
      }
      // The op's output is the last consumed module's (for int8 debugging against float);
      // a nested sequence's ops have theirs, a residual's save and swap none.
      if (program_.ops.size() > emitted && program_.ops.back().layer.empty()) {
        program_.ops.back().layer = nn::join_path(prefix, children[i].first);
        if (!program_.ops.back().output_scale.defined()) program_.ops.back().activation_scale = act_.scale;
      }
    }
  }

 private:
  [[noreturn]] static void fail(const std::string& name, const nn::Module& m, const std::string& why) {
    throw Error("convert: layer '" + name + "' (" + m.type_name() + "): " + why);
  }

  void emit_flatten() {
    int8::Op op;
    op.kind = int8::OpKind::flatten;
    op.in_shape = act_.shape;
    op.out_shape = {shape_numel(act_.shape)};
    act_.shape = op.out_shape;
    program_.ops.push_back(op);
  }

  void emit_max_pool(const nn::MaxPool2d& mp, const std::string& name) {
    int8::Op op;
    op.kind = int8::OpKind::max_pool;
    op.kernel = mp.options().kernel_h;
    op.stride = mp.options().stride_h ? mp.options().stride_h : op.kernel;
    op.padding = mp.options().pad_h;
    op.in_shape = act_.shape;
    op.out_shape = {act_.shape[0], (act_.shape[1] + 2 * op.padding - op.kernel) / op.stride + 1,
                    (act_.shape[2] + 2 * op.padding - op.kernel) / op.stride + 1};
    if (op.padding > 0 && act_.zero_point != 0) fail(name, mp, "padded max pooling needs a zero point of 0");
    act_.shape = op.out_shape;
    program_.ops.push_back(op);
  }

  // The network input's quantization, from the first layer's input quantizer.
  void take_input_quantization(ActivationQuantizer* input_q, const std::string& name) {
    INTRAIN_CHECK(input_q, "convert: layer '", name, "': the first layer must quantize the network input ",
                  "(quantize activations)");
    const QuantParams p = input_q->params();
    const QuantScheme in_scheme = input_q->scheme();
    INTRAIN_CHECK(in_scheme.bits == 8, "convert: the network input is quantized to ", in_scheme.bits,
                  " bits; the int8 program takes 8-bit input codes");
    program_.input_scale = p.scale.item();
    program_.input_zero_point = as_unsigned(in_scheme, p).zero_point;  // signed codes q + 128
    act_ = {program_.input_scale, program_.input_zero_point, program_.input_shape};
    have_input_ = true;
  }

  // A quantized conv or linear layer with the batch norm, dropout and activation that follow
  // it; returns the index of the last child it consumed.
  size_t emit_weight_layer(const std::vector<std::pair<std::string, nn::ModulePtr>>& children, size_t i,
                           const std::string& name, bool tail) {
    nn::Module* m = children[i].second.get();
    auto fail = [&](const std::string& why) { Converter::fail(name, *m, why); };
    size_t last = i;
    auto* conv = dynamic_cast<QuantConv2d*>(m);
    auto* fc = dynamic_cast<QuantLinear*>(m);
    if (!have_input_) take_input_quantization(conv ? conv->input_quantizer() : fc->input_quantizer(), name);
    int8::Op op;
    op.kind = conv ? int8::OpKind::conv2d : int8::OpKind::linear;
    op.in_shape = act_.shape;
    op.input_zero_point = act_.zero_point;
    const WeightQuantizer& wq = conv ? conv->weight_quantizer() : fc->weight_quantizer();
    op.weight_bits = wq.bits();
    Tensor bias = conv ? conv->bias : fc->bias;
    // The quantizer exports its own codes (BN-scaled when folding): the converter never
    // re-derives an algorithm's arithmetic.
    IntegerWeights w = wq.export_codes(conv ? conv->effective_weight() : fc->weight, name);
    const int64_t out = w.codes.size(0);
    std::vector<float> float_bias(static_cast<size_t>(out), 0.0f);
    if (bias.defined()) float_bias = bias.to_vector<float>();
    // The layer's group (nn/structure.hpp): its batch norm and activation, past dropout.
    const nn::LayerGroup group = *nn::match_group(children, i, quantized_role);
    ActivationQuantizer* bn_output = nullptr;  // the output quantizer of a batch norm without activation
    if (conv) {
      INTRAIN_CHECK(act_.shape.size() == 3, "convert: layer '", name, "' expects an image input");
      const auto& o = conv->conv_options();
      INTRAIN_CHECK(o.stride_h == o.stride_w && o.pad_h == o.pad_w && o.dilation_h == 1 && o.dilation_w == 1 &&
                        w.codes.size(2) == w.codes.size(3),
                    "convert: layer '", name, "': only square kernels, strides and paddings without dilation are supported");
      op.kernel = w.codes.size(2);
      op.stride = o.stride_h;
      op.padding = o.pad_h;
      op.groups = o.groups;
      op.out_shape = {out, (act_.shape[1] + 2 * op.padding - op.kernel) / op.stride + 1,
                      (act_.shape[2] + 2 * op.padding - op.kernel) / op.stride + 1};
      // A following batch norm folds in: y = f·conv + (β − f·μ) with f = γ/σ; a folding
      // quantizer already scaled the weight by f, so only the bias changes (b → f·b + β − f·μ).
      if (group.has_batch_norm()) {
        nn::Module* bn_module = children[group.batch_norm].second.get();
        auto* qbn = dynamic_cast<QuantBatchNorm*>(bn_module);
        bn_output = qbn ? &qbn->quantizer() : nullptr;
        const nn::BatchNorm2d& bn = qbn ? qbn->bn() : dynamic_cast<const nn::BatchNorm2d&>(*bn_module);
        const nn::BatchNorm2d::Affine bn_affine = bn.eval_affine();
        for (int64_t c = 0; c < out; ++c) {
          const auto k = static_cast<size_t>(c);
          const float f = bn_affine.scale[k];
          float_bias[k] = f * float_bias[k] + bn_affine.shift[k];
          if (wq.scale_free()) w.scales[k] *= f;  // SAT: the BN scale goes into the weight scale
        }
      }
      if (wq.scale_free() == false && conv->folds_batch_norm() && !group.has_batch_norm())
        fail("folds a batch norm that does not follow it");
    } else {
      INTRAIN_CHECK(act_.shape.size() == 1, "convert: layer '", name, "' needs a flattened input, got ",
                    shape_str(act_.shape));
      op.out_shape = {out};
    }
    op.weight = w.codes;
    // int32 bias in accumulator units s_in·s_w[c].
    Tensor bias_codes = Tensor::empty({out}, DType::i32);
    int32_t* pb = bias_codes.data<int32_t>();
    for (int64_t c = 0; c < out; ++c)
      pb[c] = static_cast<int32_t>(std::llround(float_bias[static_cast<size_t>(c)] / (act_.scale * w.scales[static_cast<size_t>(c)])));
    op.bias = bias_codes;
    // A quantized activation (or the batch norm's own quantizer) sets the output codes, or
    // the layer is the last.
    QuantAct* qa = group.has_activation() ? dynamic_cast<QuantAct*>(children[group.activation].second.get()) : nullptr;
    if (qa && bn_output) fail("its batch norm quantizes its output, and an activation follows as well");
    if (qa || bn_output) {
      const ActivationQuantizer& aq = qa ? qa->quantizer() : *bn_output;
      const QuantParams p = aq.params();
      const float out_scale = p.scale.item();
      const UnsignedCodes codes = as_unsigned(aq.scheme(), p);
      const int32_t out_zp = codes.zero_point;
      std::vector<double> multipliers;
      for (float s_w : w.scales) multipliers.push_back(static_cast<double>(act_.scale) * s_w / out_scale);
      set_multipliers(op, multipliers);
      op.output_zero_point = out_zp;
      // The ReLU (or ReLU6, or PACT's clip) is the clamp: codes from the zero point up.
      // Without an activation the whole range of the codes stays.
      op.clamp_min = qa ? out_zp : 0;
      op.clamp_max = codes.max;
      if (qa && qa->is_relu6())
        op.clamp_max = std::min(op.clamp_max, out_zp + static_cast<int32_t>(std::floor(6.0f / out_scale)));
      act_ = {out_scale, out_zp, op.out_shape};
      last = group.last;
    } else {
      size_t next = group.last + 1;
      while (next < children.size() && quantized_role(*children[next].second) == nn::LayerRole::passthrough) ++next;
      if (!tail || next < children.size())
        fail("its output is not quantized by an activation and it is not the last layer");
      // The logits: acc · s_in·s_w[c] (+ the bias, already in acc).
      Tensor scale = Tensor::empty({out});
      for (int64_t c = 0; c < out; ++c) scale.data<float>()[c] = act_.scale * w.scales[static_cast<size_t>(c)];
      op.output_scale = scale;
      last = group.last;
    }
    program_.ops.push_back(op);
    return last;
  }

  // Real multipliers as the op's fixed-point multiplier and shift tensors.
  static void set_multipliers(int8::Op& op, const std::vector<double>& multipliers) {
    std::vector<int32_t> mult, shift;
    for (double m : multipliers) {
      const int8::FixedPointMultiplier fm = int8::quantize_multiplier(m);
      mult.push_back(fm.multiplier);
      shift.push_back(fm.shift);
    }
    const auto n = static_cast<int64_t>(multipliers.size());
    op.multiplier = Tensor::from_vector(mult, {n});
    op.shift = Tensor::from_vector(shift, {n});
  }

  void emit_avg_pool(QuantAvgPool& qp, const std::string& name) {
    INTRAIN_CHECK(act_.shape.size() == 3, "convert: layer '", name, "' pools a non-image activation");
    int8::Op op;
    op.kind = int8::OpKind::avg_pool;
    op.in_shape = act_.shape;
    if (auto* ap = dynamic_cast<nn::AvgPool2d*>(qp.pool().get())) {
      op.kernel = ap->options().kernel_h;
      op.stride = ap->options().stride_h ? ap->options().stride_h : op.kernel;
      op.padding = ap->options().pad_h;
    } else {  // global: one window over the whole (square) plane
      INTRAIN_CHECK(act_.shape[1] == act_.shape[2], "convert: layer '", name, "': global pooling of a ",
                    act_.shape[1], "x", act_.shape[2], " plane; only square planes are supported");
      op.kernel = op.stride = act_.shape[1];
    }
    op.out_shape = {act_.shape[0], (act_.shape[1] + 2 * op.padding - op.kernel) / op.stride + 1,
                    (act_.shape[2] + 2 * op.padding - op.kernel) / op.stride + 1};
    const QuantParams out = qp.quantizer().params();
    const float out_scale = out.scale.item();
    op.input_zero_point = act_.zero_point;
    const UnsignedCodes codes = as_unsigned(qp.quantizer().scheme(), out);
    op.output_zero_point = codes.zero_point;
    op.clamp_min = 0;
    op.clamp_max = codes.max;
    set_multipliers(op, {static_cast<double>(act_.scale) / (static_cast<double>(out_scale) * op.kernel * op.kernel)});
    act_ = {out_scale, op.output_zero_point, op.out_shape};
    program_.ops.push_back(op);
  }

  void emit_residual(QuantResidual& qr, const std::string& name) {
    INTRAIN_CHECK(have_input_, "convert: layer '", name, "': a residual block cannot come before the first layer");
    int8::Op save;
    save.kind = int8::OpKind::save;
    save.in_shape = save.out_shape = act_.shape;
    program_.ops.push_back(save);
    ActivationState saved = act_;
    emit_branch(qr.body(), nn::join_path(name, qr.names().body));
    if (qr.shortcut()) {
      // The body's output goes on the stack and the block's input comes back for the
      // projection shortcut; the addition then takes the shortcut (current) and the body.
      int8::Op swap;
      swap.kind = int8::OpKind::swap;
      swap.in_shape = act_.shape;
      swap.out_shape = saved.shape;
      program_.ops.push_back(swap);
      std::swap(act_, saved);
      emit_branch(qr.shortcut(), nn::join_path(name, qr.names().shortcut));
    }
    INTRAIN_CHECK(act_.shape == saved.shape, "convert: layer '", name, "': the branches' shapes differ (",
                  shape_str(saved.shape), " and ", shape_str(act_.shape), ")");
    // docs/quantization.md §7: both inputs scaled to 2·max(s_a, s_b) with 20 bits of headroom.
    int8::Op add;
    add.kind = int8::OpKind::add;
    add.in_shape = add.out_shape = act_.shape;
    const QuantParams out = qr.quantizer().params();
    const double s_a = act_.scale, s_b = saved.scale, s_y = out.scale.item();
    const double twice_max = 2 * std::max(s_a, s_b);
    set_multipliers(add, {s_a / twice_max, s_b / twice_max, twice_max / (static_cast<double>(1 << 20) * s_y)});
    add.input_zero_point = act_.zero_point;
    add.saved_zero_point = saved.zero_point;
    const UnsignedCodes codes = as_unsigned(qr.quantizer().scheme(), out);
    add.output_zero_point = codes.zero_point;
    // An absorbed ReLU (ReLU6) is the clamp, as for convolutions.
    add.clamp_min = qr.activation() == QuantResidual::Activation::none ? 0 : add.output_zero_point;
    add.clamp_max = codes.max;
    if (qr.activation() == QuantResidual::Activation::relu6)
      add.clamp_max = std::min(add.clamp_max, add.output_zero_point + static_cast<int32_t>(std::floor(6.0 / s_y)));
    act_ = {static_cast<float>(s_y), add.output_zero_point, add.out_shape};
    program_.ops.push_back(add);
  }

  void emit_branch(const nn::ModulePtr& branch, const std::string& path) {
    if (auto* seq = dynamic_cast<nn::Sequential*>(branch.get())) emit_sequence(seq->children(), path, false);
    else emit_sequence({{"", branch}}, path, false);
  }

  int8::Program program_;
  ActivationState act_;
  bool have_input_ = false;
};

}  // namespace

int8::Program convert(nn::Module& model, const Shape& input_shape, const std::string& model_name) {
  INTRAIN_CHECK(input_shape.size() == 3, "convert: input shape must be [C, H, W], got ", shape_str(input_shape));
  model.eval();
  NoGradGuard no_grad;
  Converter converter(input_shape, model_name);
  converter.emit_sequence(model.children(), "", true);
  return converter.finish();
}
}  // namespace intrain::quant
