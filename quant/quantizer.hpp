#pragma once
// Quantization algorithms as objects registered by name. Each algorithm (one file under
// quant/quantizers/) provides a weight quantizer and an activation quantizer that own their
// fake-quant forward, their learnable state and their export to integer codes: prepare
// builds them by the config's algorithm name, and convert asks them for codes, scales and
// zero points instead of re-deriving them.
//
// Adding an algorithm: write quant/quantizers/NAME.cpp with a
// `register_NAME_quantizer(QuantizerRegistry&)` and add that one call to
// quant/quantizers/builtin.cpp (or call register_quantizer at run time from your own code;
// tests/test_quantizers.cpp does, with a fixed-grid algorithm). The config parser, the CLI's --algo and the error messages that
// list the known names all ask the registry.
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "quant/scheme.hpp"

namespace intrain::quant {

// Registers a learnable tensor under the module that owns the quantizer and returns the
// registered tensor: (name, initial value) → parameter. The names are the checkpoint's.
using RegisterParameter = std::function<Tensor(const std::string& name, Tensor value)>;

// ---- weights ---------------------------------------------------------------------------------

// What one layer's weight quantizer is built from.
struct WeightSpec {
  int bits = 8;
  bool per_channel = true;
  bool power_of_two = false;
  bool sat_quantize = true;     // SAT/DoReFa: false is the 'clamp only' first stage
  bool followed_by_bn = false;  // a batch norm follows the layer (folded at conversion)
};

// A weight as the integer program stores it: i8 codes of the weight's shape and one scale per
// output channel (zero point 0: weights are symmetric).
struct IntegerWeights {
  Tensor codes;
  std::vector<float> scales;
};

class WeightQuantizerImpl {
 public:
  virtual ~WeightQuantizerImpl() = default;
  virtual std::string name() const = 0;
  virtual QuantScheme scheme() const = 0;
  // Registers the quantizer's learnable tensors under the layer that owns them (their names
  // are the checkpoint's: keep them stable). `effective_weight` is the weight it quantizes.
  virtual void attach(const RegisterParameter& /*add*/, const Tensor& /*effective_weight*/) {}
  // The fake-quantized weight (differentiable where the algorithm trains).
  virtual Tensor forward(const Tensor& w) const = 0;
  // The integer codes and per-channel scales the converter stores; `layer` names errors.
  virtual IntegerWeights export_codes(const Tensor& w, const std::string& layer) const = 0;
  // Normalizing quantizers (DoReFa/SAT) give the same codes whatever the weight's scale, so
  // a folded batch norm's factor goes into the scales at conversion, not into the weight.
  virtual bool scale_free() const { return false; }
  // The learned step (LSQ); undefined for quantizers without one.
  virtual Tensor step() const { return Tensor(); }
  // The output scale the quantizer applies after its codes (SAT's variance adjustment), 1 else.
  virtual float output_scale(const Tensor& /*w*/) const { return 1.0f; }
};

// ---- activations -----------------------------------------------------------------------------

// What one activation quantizer is built from.
struct ActivationSpec {
  int bits = 8;
  bool non_negative = false;  // the input is a ReLU's output (unsigned levels from 0)
  std::string observer = "moving_average";  // calibration observer (the PTQ quantizer)
};

// The range buffers every activation quantizer carries under the names "min", "max" and
// "initialized" (calibration and min-max write them; a checkpoint restores them).
struct RangeState {
  Tensor min, max, initialized;
  bool ready() const { return initialized.item<int32_t>() != 0; }
  void set(float lo, float hi);  // and marks the range initialized
};

class ActivationQuantizerImpl {
 public:
  virtual ~ActivationQuantizerImpl() = default;
  virtual std::string name() const = 0;
  virtual QuantScheme scheme() const = 0;
  // Registers learnable tensors under the quantizer module ("alpha", "step": checkpoint names).
  virtual void attach(const RegisterParameter& /*add*/) {}
  // The first training batch sets the starting range or parameters.
  virtual void initialize(const Tensor& x, RangeState& range) = 0;
  // The fake-quantized activation; `training` also updates running state.
  virtual Tensor forward(const Tensor& x, bool training, RangeState& range) = 0;
  // The scale and zero point the integer program uses for this activation.
  virtual QuantParams params(const RangeState& range) const = 0;
  // The quantizer clips at 0 itself (PACT), so the ReLU before it is redundant.
  virtual bool replaces_relu() const { return false; }
  // PTQ: an observer watches calibration batches (values pass through unchanged); freeze()
  // then writes its range. Quantizers that learn their range refuse.
  virtual void start_calibration();
  virtual bool calibrating() const { return false; }
  virtual void observe(const Tensor& /*x*/) {}
  virtual void freeze(RangeState& range);
};

// ---- the registry ----------------------------------------------------------------------------

struct QuantizerFactories {
  std::function<std::unique_ptr<WeightQuantizerImpl>(const WeightSpec&)> weight;
  std::function<std::unique_ptr<ActivationQuantizerImpl>(const ActivationSpec&)> activation;
  std::string description;  // one line, for --help and error messages
};

class QuantizerRegistry {
 public:
  // Throws when `name` is taken or a factory is missing.
  void add(const std::string& name, QuantizerFactories factories);
  bool contains(const std::string& name) const;
  const QuantizerFactories& at(const std::string& name) const;  // throws listing the known names
  // The stable spelling of a registered name (pointers into it stay valid).
  const std::string& key(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted
  std::string names_joined() const;        // "lsq, minmax, pact, sat"

 private:
  std::deque<std::pair<std::string, QuantizerFactories>> entries_;  // a deque: adding keeps keys in place
};

// Every registered algorithm: the built-in ones (quant/quantizers/builtin.cpp) and any added
// with register_quantizer.
QuantizerRegistry& quantizer_registry();
void register_quantizer(const std::string& name, QuantizerFactories factories);

std::unique_ptr<WeightQuantizerImpl> make_weight_quantizer(const std::string& algorithm, const WeightSpec& spec);
std::unique_ptr<ActivationQuantizerImpl> make_activation_quantizer(const std::string& algorithm,
                                                                   const ActivationSpec& spec);

// ---- helpers shared by algorithm files -------------------------------------------------------

// Symmetric min-max parameters of the current weight: per output channel, or per tensor.
QuantParams minmax_weight_params(const Tensor& w, const QuantScheme& scheme);
// Codes of `w` on the grid `params` (per tensor or per channel), with one scale per output
// channel as the integer program stores them.
IntegerWeights codes_on_grid(const Tensor& w, QuantParams params, const QuantScheme& scheme);
// Unsigned activations after a ReLU, else affine: the min-max family's activation scheme.
QuantScheme minmax_activation_scheme(int bits, bool non_negative);

// The activation quantizer prepare_ptq uses: `spec.observer` watches calibration batches,
// then the frozen range quantizes as min-max does. Its algorithm name is "calibrated".
inline constexpr const char* kCalibratedActivations = "calibrated";

}  // namespace intrain::quant
