#pragma once
// The precision float convolutions compute in, for training and evaluation alike.
// `bf16` is mixed precision: oneDNN rounds each convolution's inputs (activations and
// weights, or the output gradient in backward) to bf16 and accumulates and writes f32, so
// everything between layers — activations, gradients, batch-norm statistics, losses,
// softmax — and the master weights, the optimizer state and checkpoints stay f32.
// On AMX-BF16 or AVX512-BF16 CPUs this runs the convolutions on the bf16 units.
#include <string>

namespace intrain {

enum class ComputePrecision { f32, bf16 };

ComputePrecision compute_precision();
// Throws Error when bf16 is asked on a CPU without bf16 instructions (cpu_has_bf16()).
void set_compute_precision(ComputePrecision precision);
const char* precision_name(ComputePrecision precision);
// "f32" or "bf16"; anything else is an Error naming the value.
ComputePrecision parse_precision(const std::string& name);

// Sets a precision for its lifetime and restores the previous one.
class PrecisionGuard {
 public:
  explicit PrecisionGuard(ComputePrecision precision) : previous_(compute_precision()) {
    set_compute_precision(precision);
  }
  ~PrecisionGuard() { set_compute_precision(previous_); }
  PrecisionGuard(const PrecisionGuard&) = delete;
  PrecisionGuard& operator=(const PrecisionGuard&) = delete;

 private:
  ComputePrecision previous_;
};

}  // namespace intrain
