// The int8 kernel tables and the choice among them. Compiled for the baseline ISA: the
// tables only hold pointers, so listing them runs on any CPU; a kernel runs only when its
// table's supported() said yes.
#include <cstdlib>
#include <string>

#include "core/cpu_features.hpp"
#include "core/error.hpp"
#include "int8/kernel_table.hpp"

namespace intrain::int8 {

namespace {

// The VNNI kernels also use BMI2 (pdep in the depthwise kernel), which every VNNI CPU has;
// checked all the same.
bool vnni_supported() {
  return active_isa() == Isa::avx512 && cpu_has_avx512_vnni() && __builtin_cpu_supports("bmi2");
}
bool amx_supported() { return vnni_supported() && amx_permitted(); }
bool avx2_supported() { return active_isa() >= Isa::avx2; }
bool always() { return true; }

const KernelTable kAmx{"amx", "AMX-INT8",
                       amx_supported,
                       gemm_amx, pack_weights_amx, 256, 16, 32, gemm_vnni_segmented,
                       depthwise_nhwc_avx512, prepare_depthwise_avx512, 1, max_pool_nhwc_avx512, add_avx512,
                       requantize_channels_avx512, quantize_input_avx512};
const KernelTable kVnni{"vnni", "AVX-512 VNNI",
                        vnni_supported,
                        gemm_vnni, pack_weights, 96, 1, 64, gemm_vnni_segmented,
                        depthwise_nhwc_avx512, prepare_depthwise_avx512, 1, max_pool_nhwc_avx512, add_avx512,
                        requantize_channels_avx512, quantize_input_avx512};
const KernelTable kAvx2{"avx2", "AVX2",
                        avx2_supported,
                        gemm_avx2, pack_weights, 96, 1, 64, nullptr,
                        depthwise_nhwc_avx2, nullptr, 8, max_pool_nhwc_avx2, add_avx2, requantize_channels_avx2,
                        quantize_input_avx2};
const KernelTable kScalar{"scalar", "scalar loops",
                          always,
                          gemm_scalar, pack_weights, 96, 1, 64, gemm_scalar_segmented,
                          depthwise_nhwc_reference, nullptr, 1, max_pool_nhwc_reference, add_reference,
                          requantize_channels_reference, quantize_input_reference};

// INTRAIN_INT8_KERNELS=<id> caps the choice at that table (for comparing paths).
size_t first_allowed() {
  const char* env = std::getenv("INTRAIN_INT8_KERNELS");
  if (!env || !*env) return 0;
  const auto& tables = kernel_tables();
  for (size_t i = 0; i < tables.size(); ++i)
    if (tables[i]->id == std::string(env)) return i;
  throw Error("INTRAIN_INT8_KERNELS: expected amx, vnni, avx2 or scalar, got '" + std::string(env) + "'");
}

}  // namespace

const std::vector<const KernelTable*>& kernel_tables() {
  static const std::vector<const KernelTable*> tables{&kAmx, &kVnni, &kAvx2, &kScalar};
  return tables;
}

std::vector<const KernelTable*> available_kernel_tables() {
  static const size_t first = first_allowed();
  std::vector<const KernelTable*> out;
  const auto& tables = kernel_tables();
  for (size_t i = first; i < tables.size(); ++i)
    if (tables[i]->supported()) out.push_back(tables[i]);
  return out;
}

const KernelTable& best_kernel_table() {
  static const KernelTable* best = available_kernel_tables().front();  // scalar is always there
  return *best;
}

const KernelTable& scalar_kernel_table() { return kScalar; }

const KernelTable& kernel_table(const std::string& id) {
  for (const KernelTable* t : kernel_tables())
    if (id == t->id) {
      INTRAIN_CHECK(t->supported(), "int8 kernels '", id, "' (", t->name, ") do not run on this CPU");
      return *t;
    }
  throw Error("int8 kernels: expected amx, vnni, avx2 or scalar, got '" + id + "'");
}

}  // namespace intrain::int8
