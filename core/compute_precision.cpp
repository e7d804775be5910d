#include "core/compute_precision.hpp"

#include <atomic>

#include "core/cpu_features.hpp"
#include "core/error.hpp"

namespace intrain {

namespace {
// Process-wide, as the thread budget is: the model runs on one thread and its kernels
// read the setting when they build or look up their primitives.
std::atomic<ComputePrecision> current{ComputePrecision::f32};
}  // namespace

ComputePrecision compute_precision() { return current.load(std::memory_order_relaxed); }

void set_compute_precision(ComputePrecision precision) {
  INTRAIN_CHECK(precision != ComputePrecision::bf16 || cpu_has_bf16(),
                "bf16 compute: this CPU has neither AVX512-BF16 nor AMX-BF16; use f32");
  current.store(precision, std::memory_order_relaxed);
}

const char* precision_name(ComputePrecision precision) {
  return precision == ComputePrecision::bf16 ? "bf16" : "f32";
}

ComputePrecision parse_precision(const std::string& name) {
  if (name == "f32") return ComputePrecision::f32;
  if (name == "bf16") return ComputePrecision::bf16;
  throw Error("precision: expected f32 or bf16, got '" + name + "'");
}

}  // namespace intrain
