#pragma once
// Mixed precision under a size budget: from each layer's sensitivity at 8, 4 and 2 weight
// bits (quant/sensitivity.hpp) and what each width costs in bytes, choose per-layer weight
// widths whose int8 program file fits the budget and whose summed sensitivity is least — a
// multiple-choice knapsack, solved by dynamic programming over the bytes (optimal up to
// the sizes being rounded up to 2^15 steps of the range, so the budget always holds; the
// exact bytes left over are then filled greedily). The result is a QuantConfig with one override per layer, which
// prepare_ptq, checkpoints and convert already honour.
//
//   auto costs = quant::sensitivity_costs(sensitivity, quant::SensitivityMetric::output_noise);
//   auto size = quant::ProgramSizeModel::from_program(w8_file_bytes, quant::weight_layers(*model));
//   quant::BitAllocation choice = quant::allocate_bits(costs, budget_bytes, size);
//   quant::QuantConfig config = choice.apply(quant::preset("w8a8"));
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "quant/config.hpp"
#include "quant/sensitivity.hpp"

namespace intrain::quant {

// Bytes `weights` codes take in an int8 program file: 5–8 bits one per byte, 3–4 bits two
// to a byte, 1–2 bits four to a byte (int8/program.hpp packs them so).
int64_t packed_weight_bytes(int64_t weights, int bits);

// A program file's size as a function of its layers' weight widths: the weight codes, plus
// what does not depend on the widths (the graph, biases, requantization constants, the
// input's and output's parameters), plus a little header per layer stored packed.
struct ProgramSizeModel {
  int64_t fixed_bytes = 0;
  // The safetensors entry of packed codes is named "weight_packed" and the graph records the
  // weight's shape: at most this many header bytes more than the same layer at 8 bits.
  int64_t packed_layer_bytes = 64;

  // From the size of a program whose `layers` all have 8-bit weights (as intrain convert
  // writes a W8A8 checkpoint).
  static ProgramSizeModel from_program(int64_t file_bytes, const std::vector<WeightLayer>& layers);
  // A layer's bytes at `bits`: its codes, and the packed header allowance below 5 bits.
  int64_t layer_bytes(int64_t weights, int bits) const;
};

// How a layer's sensitivity becomes a cost to sum over layers.
enum class SensitivityMetric {
  // The relative noise power of the network output, 10^(−SQNR/10): independent errors of
  // different layers add up in power, so the sum predicts the mixed model's output SQNR.
  output_noise,
  // The accuracy drop (clipped at 0): direct, but coarse (one image in the evaluation set)
  // and noisy where quantization barely changes the result.
  accuracy_drop,
};
SensitivityMetric parse_sensitivity_metric(const std::string& name);  // "output_noise", "accuracy_drop"
const char* sensitivity_metric_name(SensitivityMetric metric);

struct LayerBitCosts {
  std::string name;
  int64_t weights = 0;
  std::vector<std::pair<int, double>> costs;  // (weight bits, cost) for each candidate width
};

// The candidates of every layer in `result`, made non-increasing in the bits (fewer bits
// never cost less than more: measured differences the other way are noise).
std::vector<LayerBitCosts> sensitivity_costs(const SensitivityResult& result, SensitivityMetric metric);

struct LayerBits {
  std::string name;
  int weight_bits = 8;
  int64_t bytes = 0;  // ProgramSizeModel::layer_bytes
  double cost = 0;
};

struct BitAllocation {
  std::vector<LayerBits> layers;  // in the order given
  int64_t weight_bytes = 0;       // Σ layer bytes
  int64_t predicted_bytes = 0;    // fixed_bytes + weight_bytes: the program file, at most
  double cost = 0;                // Σ cost
  // `base` with one weight-bit override per layer (added after its own, so they win).
  QuantConfig apply(QuantConfig base) const;
};

// The least-cost choice whose predicted program size is at most `budget_bytes`.
// Deterministic; ties keep more bits. Throws an Error naming the smallest achievable size
// when even every layer at its fewest bits does not fit.
BitAllocation allocate_bits(const std::vector<LayerBitCosts>& layers, int64_t budget_bytes, const ProgramSizeModel& size);

// One line per layer (name, bits, bytes, cost) and the totals against the budget.
std::string format_allocation(const BitAllocation& allocation, int64_t budget_bytes);

}  // namespace intrain::quant
