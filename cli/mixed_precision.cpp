#include "cli/mixed_precision.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/file_reader.hpp"
#include "data/loader.hpp"
#include "data/named_datasets.hpp"
#include "int8/program.hpp"
#include "quant/bit_allocation.hpp"
#include "quant/convert.hpp"
#include "quant/prepare.hpp"
#include "quant/sensitivity.hpp"

namespace intrain::cli {

namespace {

struct Sets {
  data::DatasetPtr train, test;
};

// The size of the file `intrain convert` writes from the ptq checkpoint of `config`
// (without --pixel-input, which adds a 256-byte table per channel, or --model, which adds
// its name): prepared, calibrated and converted as ptq and convert do, saved, measured.
int64_t program_file_bytes(const BudgetRun& run, const quant::QuantConfig& config, const Sets& sets,
                           data::DataLoader& calibration) {
  nn::ModulePtr model = run.float_model();
  quant::prepare_ptq(*model, config);
  quant::calibrate(*model, calibration, run.calibration_batches);
  train::RunState state;
  record_data_settings(state, run.settings, *sets.test, run.source.val_fraction);
  if (!run.source.classes.empty()) state.classes = run.source.classes;
  int8::Program program = quant::convert(*model, sets.test->example_shape());
  program.dataset = state.dataset;
  program.input_mean = state.mean;
  program.input_std = state.std;
  if (static_cast<int64_t>(state.classes.size()) == program.num_outputs()) program.classes = state.classes;
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / (".intrain-budget-" + std::to_string(getpid()) + ".int8");
  int8::save_program(path.string(), program);
  const auto bytes = static_cast<int64_t>(std::filesystem::file_size(path));
  std::filesystem::remove(path);
  return bytes;
}

}  // namespace

void add_budget_options(CLI::App* ptq, BudgetFlags& flags) {
  ptq->add_option("--budget-bytes", flags.budget_bytes,
                  "choose per-layer weight bits (8/4/2) so the int8 program file is at most this size")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  ptq->add_option("--budget-fraction", flags.budget_fraction,
                  "the same, as a fraction of the program with every layer at 8-bit weights")
      ->check(CLI::Range(0.01, 1.0));
  ptq->add_option("--budget-metric", flags.metric, "sensitivity summed over layers: output_noise or accuracy_drop")
      ->capture_default_str();
  ptq->add_option("--sensitivity-images", flags.sensitivity_images, "training images the per-layer sensitivity is measured on")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  ptq->add_option("--sensitivity", flags.sensitivity_table, "a sensitivity.json (intrain sensitivity) to use instead of measuring");
}

void choose_bits_for_budget(const BudgetFlags& flags, const BudgetRun& run, quant::QuantConfig& config) {
  INTRAIN_CHECK(!(flags.budget_bytes > 0 && flags.budget_fraction > 0), "ptq: pass --budget-bytes or --budget-fraction, not both");
  INTRAIN_CHECK(config.overrides.empty(), "ptq --budget-bytes/--budget-fraction chooses every layer's weight bits; ",
                "drop --first-last-bits");
  const quant::SensitivityMetric metric = quant::parse_sensitivity_metric(flags.metric);
  data::DatasetOptions train_options = run.settings.options;
  if (data::is_flat_image_folder(run.settings.dataset)) train_options.whole_folder_for_train = true;
  const Sets sets{data::make_dataset(run.settings.dataset, data::Split::train, train_options),
                  data::make_dataset(run.settings.dataset, data::Split::test, run.settings.options)};
  // The calibration ptq itself runs: the same loader, seed and batches.
  data::DataLoader calibration(sets.train, {run.batch_size, true, run.seed, false, 1, 2});

  nn::ModulePtr float_model = run.float_model();
  const std::vector<quant::WeightLayer> layers = quant::weight_layers(*float_model);
  quant::QuantConfig all8 = config;
  all8.weight_bits = 8;
  const int64_t w8_bytes = program_file_bytes(run, all8, sets, calibration);
  const int64_t budget = flags.budget_bytes > 0 ? flags.budget_bytes
                                                : static_cast<int64_t>(std::floor(flags.budget_fraction * static_cast<double>(w8_bytes)));
  std::printf("mixed precision: budget %lld bytes, %.1f%% of the %lld-byte program with 8-bit weights (W8A%d)\n",
              static_cast<long long>(budget), 100.0 * static_cast<double>(budget) / static_cast<double>(w8_bytes),
              static_cast<long long>(w8_bytes), config.activation_bits);

  quant::SensitivityResult sensitivity;
  if (!flags.sensitivity_table.empty()) {
    sensitivity = quant::parse_sensitivity_json(read_regular_file(flags.sensitivity_table, "sensitivity table"),
                                                flags.sensitivity_table);
    std::printf("per-layer sensitivity from %s\n", flags.sensitivity_table.c_str());
  } else {
    // Training images (another shuffle than calibration's): the test set stays unseen by the choice.
    data::DataLoader evaluation(sets.train, {data::evaluation_batch_size(*sets.train, 500), true, run.seed + 1, false, 1, 2});
    quant::SensitivityOptions options;
    options.config = config;
    options.activation_bits = config.activation_bits;
    options.calibration_batches = run.calibration_batches;
    std::printf("per-layer sensitivity on %lld training images, one layer at a time at 8, 4 and 2 bits\n",
                static_cast<long long>(flags.sensitivity_images));
    std::fflush(stdout);
    options.on_result = [](const quant::LayerSensitivity& l) {
      std::fprintf(stderr, "  %-24s W%d  output SQNR %6.2f dB\n", l.name.c_str(), l.weight_bits, l.output_sqnr_db);
    };
    sensitivity = quant::layer_sensitivity(*float_model, calibration,
                                           quant::take_batches(evaluation, flags.sensitivity_images), options);
  }
  const std::vector<quant::LayerBitCosts> costs = quant::sensitivity_costs(sensitivity, metric);
  INTRAIN_CHECK(costs.size() == layers.size(), "ptq --budget: the sensitivity table lists ", costs.size(),
                " layers, the model has ", layers.size(), " conv/linear layers");
  for (size_t i = 0; i < layers.size(); ++i)
    INTRAIN_CHECK(costs[i].name == layers[i].name && costs[i].weights == layers[i].weights, "ptq --budget: the sensitivity ",
                  "table's layer ", i, " is '", costs[i].name, "' with ", costs[i].weights, " weights; the model's is '",
                  layers[i].name, "' with ", layers[i].weights);

  // The final exactness check: the program these bits give, measured; should its header
  // outgrow the size model's allowance, the allocation runs again on a budget that much tighter.
  const quant::ProgramSizeModel size = quant::ProgramSizeModel::from_program(w8_bytes, layers);
  int64_t target = budget, real = 0;
  quant::BitAllocation allocation;
  for (int attempt = 0; attempt < 4; ++attempt) {
    allocation = quant::allocate_bits(costs, target, size);
    real = program_file_bytes(run, allocation.apply(config), sets, calibration);
    if (real <= budget) break;
    target -= real - budget;
  }
  INTRAIN_CHECK(real <= budget, "ptq --budget: the chosen program is ", real, " bytes, over the budget of ", budget);
  std::printf("weight bits chosen (cost: %s, summed over layers)\n%s", quant::sensitivity_metric_name(metric),
              quant::format_allocation(allocation, budget).c_str());
  int64_t uniform4 = size.fixed_bytes;
  for (const quant::WeightLayer& l : layers) uniform4 += size.layer_bytes(l.weights, 4);
  std::printf("program size: %lld bytes (predicted at most %lld; budget %lld; uniform 4-bit weights: %lld)\n",
              static_cast<long long>(real), static_cast<long long>(allocation.predicted_bytes),
              static_cast<long long>(budget), static_cast<long long>(uniform4));
  config = allocation.apply(config);
}

}  // namespace intrain::cli
