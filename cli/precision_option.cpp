#include "cli/precision_option.hpp"

#include <cstdio>

#include "core/compute_precision.hpp"
#include "core/cpu_features.hpp"

namespace intrain::cli {

void add_precision_option(CLI::App* command, std::string& precision) {
  command->add_option("--precision", precision,
                      "f32, or bf16: convolutions on bf16 inputs with f32 accumulation (AVX512-BF16 / AMX-BF16); "
                      "weights, optimizer state and checkpoints stay f32")
      ->check(CLI::IsMember({"f32", "bf16"}))
      ->capture_default_str();
}

void apply_precision(const std::string& precision, const char* command) {
  ComputePrecision p = parse_precision(precision);
  if (p == ComputePrecision::bf16 && !cpu_has_bf16()) {
    std::fprintf(stderr, "intrain %s: --precision bf16: this CPU has neither AVX512-BF16 nor AMX-BF16; training in f32\n",
                 command);
    p = ComputePrecision::f32;
  }
  set_compute_precision(p);
}

}  // namespace intrain::cli
