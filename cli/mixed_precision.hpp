#pragma once
// ptq --budget-bytes / --budget-fraction: measure each layer's sensitivity, choose per-layer
// weight bits whose int8 program fits the budget (quant/bit_allocation.hpp), and add them to
// the PTQ config as per-layer overrides, which the checkpoint records and convert honours.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "cli/data_settings.hpp"
#include "nn/module.hpp"
#include "quant/config.hpp"
#include "train/checkpoint.hpp"

namespace intrain::cli {

struct BudgetFlags {
  int64_t budget_bytes = 0;    // the int8 program file, as intrain convert writes it
  double budget_fraction = 0;  // of the same config's program with every layer at 8 bits
  std::string metric = "output_noise";
  int64_t sensitivity_images = 1000;  // training images the sensitivity is measured on
  std::string sensitivity_table;      // a sensitivity.json to use instead of measuring
  bool given() const { return budget_bytes > 0 || budget_fraction > 0; }
};
// --budget-bytes, --budget-fraction, --budget-metric, --sensitivity-images, --sensitivity.
void add_budget_options(CLI::App* ptq, BudgetFlags& flags);

// What the allocation needs to know of the ptq run.
struct BudgetRun {
  std::function<nn::ModulePtr()> float_model;  // a fresh float model (equalized when ptq equalizes)
  DataSettings settings;
  train::RunState source;  // the float checkpoint's state (classes, split)
  int64_t batch_size = 64, calibration_batches = 16;
  uint64_t seed = 1;
};

// Adds one weight-bit override per conv/linear layer to `config` (which must have none),
// after checking that the program written with them fits: prepares, calibrates and
// converts the choice and measures the file, tightening the budget by any excess. Prints
// the table of choices, the W8 size, the predicted and the real size.
void choose_bits_for_budget(const BudgetFlags& flags, const BudgetRun& run, quant::QuantConfig& config);

}  // namespace intrain::cli
