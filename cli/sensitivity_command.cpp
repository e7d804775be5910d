// intrain sensitivity: which layer hurts when quantized. Each conv/linear layer is
// quantized alone (the rest float) at each weight width asked, calibrated as ptq does, and
// the network's accuracy and output SQNR on test images are compared with float's; the
// table goes to stdout and DIR/sensitivity.json (read by the HTML report and by
// ptq --sensitivity).
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.hpp"
#include "cli/data_settings.hpp"
#include "cli/limits.hpp"
#include "cli/model_loading.hpp"
#include "core/safetensors.hpp"
#include "data/loader.hpp"
#include "data/named_datasets.hpp"
#include "quant/sensitivity.hpp"

namespace intrain::cli {

namespace {

struct SensitivityArgs {
  std::string model, checkpoint, out, observer = "minmax";
  DataFlags data;
  std::vector<int> bits = {8, 4, 2};
  std::vector<std::string> layers;
  int activation_bits = 8;
  int64_t calibration_batches = 4, batch_size = 64, eval_images = 2000;
  uint64_t seed = 1;
  bool per_tensor = false, json = false;
};

void run_sensitivity(const SensitivityArgs& a) {
  const train::RunState source = train::read_checkpoint_state(a.checkpoint);
  nn::ModulePtr model = load_float_weights(a.model, a.checkpoint);
  model->eval();
  const DataSettings settings = resolve_data(a.data, source, a.checkpoint);
  auto test_set = data::make_dataset(settings.dataset, data::Split::test, settings.options);
  check_images_fit(*model, *test_set, source, settings.dataset, a.checkpoint);
  data::DatasetOptions calib_options = settings.options;
  if (data::is_flat_image_folder(settings.dataset)) calib_options.whole_folder_for_train = true;
  auto train_set = data::make_dataset(settings.dataset, data::Split::train, calib_options);
  // Calibration as ptq's: shuffled training batches of the seed.
  data::DataLoader calibration(train_set, {a.batch_size, true, a.seed, false, 1, 2});
  data::DataLoader test(test_set, {data::evaluation_batch_size(*test_set, 500), false, 0, false, 1, 2});

  quant::SensitivityOptions options;
  options.weight_bits = a.bits;
  options.activation_bits = a.activation_bits;
  options.config.observer = a.observer;
  options.config.per_channel = !a.per_tensor;
  options.calibration_batches = a.calibration_batches;
  options.layers = a.layers;
  options.on_result = [](const quant::LayerSensitivity& l) {
    std::fprintf(stderr, "  %-24s W%dA%d  output SQNR %6.2f dB\n", l.name.c_str(), l.weight_bits, l.activation_bits,
                 l.output_sqnr_db);
  };
  const auto evaluation = quant::take_batches(test, a.eval_images);
  const quant::SensitivityResult result = quant::layer_sensitivity(*model, calibration, evaluation, options);

  const std::string model_name = resolve_model(a.model, source, a.checkpoint);
  const std::string json = quant::sensitivity_json(result, model_name, settings.dataset);
  const std::string dir = !a.out.empty() ? a.out : std::filesystem::path(a.checkpoint).parent_path().string();
  const std::string path = (std::filesystem::path(dir.empty() ? "." : dir) / "sensitivity.json").string();
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  write_file_atomically(path, json);
  if (a.json) {
    std::printf("%s", json.c_str());
    return;
  }
  std::printf("%s: %s on %s test images, %lld calibration batches of %lld\n", a.checkpoint.c_str(), model_name.c_str(),
              settings.dataset.c_str(), static_cast<long long>(a.calibration_batches), static_cast<long long>(a.batch_size));
  std::printf("%s", quant::format_sensitivity(result).c_str());
  std::printf("wrote %s\n", path.c_str());
}

}  // namespace

void add_sensitivity_command(CLI::App& app) {
  auto a = std::make_shared<SensitivityArgs>();
  CLI::App* cmd = app.add_subcommand("sensitivity", "per-layer sensitivity: quantize one layer at a time, "
                                                    "report accuracy drop and output SQNR");
  cmd->add_option("--model", a->model, "model (default: the one the checkpoint records)");
  cmd->add_option("--checkpoint", a->checkpoint, "float checkpoint (a fake-quantized one: its float weights)")->required();
  add_data_options(cmd, a->data);
  cmd->add_option("--bits", a->bits, "weight widths to try, e.g. 8,4,2")->delimiter(',')->capture_default_str()
      ->check(intrain::cli_limits::kWeightBits);
  cmd->add_option("--activation-bits", a->activation_bits, "the layer's output activation (0: weights only)")
      ->capture_default_str()->check(intrain::cli_limits::kActivationBits);
  cmd->add_option("--calibration-batches", a->calibration_batches)->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--batch-size", a->batch_size, "calibration batch size")->capture_default_str()
      ->check(intrain::cli_limits::kBatch);
  cmd->add_option("--eval-images", a->eval_images, "test images accuracy and SQNR are measured on")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  cmd->add_option("--observer", a->observer, "activation observer: minmax, moving_average, percentile, mse, kl")
      ->capture_default_str();
  cmd->add_flag("--per-tensor", a->per_tensor, "weights per tensor instead of per channel");
  cmd->add_option("--layers", a->layers, "only the layers matching these '*' patterns");
  cmd->add_option("--seed", a->seed, "calibration shuffle")->capture_default_str()->check(intrain::cli_limits::kSeed);
  cmd->add_flag("--json", a->json, "print the JSON instead of the table");
  cmd->add_option("--out", a->out, "folder for sensitivity.json (default: the checkpoint's)");
  cmd->callback([a] { run_sensitivity(*a); });
}

}  // namespace intrain::cli
