// intrain eval: loss, top-1 and top-5 accuracy (and on request the confusion matrix) of a
// checkpoint on a test set, as text or one JSON object.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/data_settings.hpp"
#include "cli/limits.hpp"
#include "cli/model_loading.hpp"
#include "core/process_stats.hpp"
#include "data/named_datasets.hpp"
#include "train/trainer.hpp"

namespace intrain::cli {

namespace {

struct EvalArgs {
  std::string model, checkpoint;
  DataFlags data;
  int64_t batch_size = 0;  // 0: sized to the images
  bool confusion_matrix = false, json = false;
};

void print_confusion(const train::EvalResult& r) {
  std::printf("confusion matrix (rows: true class, columns: predicted):\n      ");
  for (size_t c = 0; c < r.confusion.size(); ++c) std::printf("%6zu", c);
  std::printf("\n");
  for (size_t t = 0; t < r.confusion.size(); ++t) {
    std::printf("%6zu", t);
    for (int64_t n : r.confusion[t]) std::printf("%6lld", static_cast<long long>(n));
    std::printf("\n");
  }
}

void run(const EvalArgs& a) {
  // Fake-quantized checkpoints carry their quantization config and evaluate as such; the
  // dataset, image size and normalization default to those the checkpoint was trained with.
  LoadedModel loaded = load_model(a.model, a.checkpoint);
  const DataSettings settings = resolve_data(a.data, loaded.state, a.checkpoint);
  auto test_set = data::make_dataset(settings.dataset, data::Split::test, settings.options);
  check_images_fit(*loaded.model, *test_set, loaded.state, settings.dataset, a.checkpoint);
  // Batches stream through the loader (one worker, two ahead), so the peak memory reported
  // below follows the batch size, not the number of images.
  const int64_t batch = a.batch_size > 0 ? a.batch_size : data::evaluation_batch_size(*test_set);
  data::DataLoader loader(test_set, {batch, false, 0, false, 1, 2});
  const train::EvalResult r = train::evaluate(*loaded.model, loader);
  const bool has_top5 = !r.confusion.empty() && r.confusion.size() > 5;
  if (a.json) {
    nlohmann::json out = {{"checkpoint", a.checkpoint},     {"model", loaded.state.model_name},
                          {"dataset", settings.dataset},    {"split", "test"},
                          {"input_shape", test_set->example_shape()}, {"images", r.count},
                          {"loss", r.loss},                 {"top1_accuracy", r.accuracy},
                          {"batch_size", batch},            {"peak_memory_mib", peak_memory_mib()}};
    if (has_top5) out["top5_accuracy"] = r.top5_accuracy;
    if (a.confusion_matrix) out["confusion_matrix"] = r.confusion;
    std::printf("%s\n", out.dump().c_str());
    return;
  }
  std::printf("%s on %s test (%lld images, %s): loss %.4f, top-1 accuracy %.2f%%", a.checkpoint.c_str(),
              settings.dataset.c_str(), static_cast<long long>(r.count), shape_str(test_set->example_shape()).c_str(),
              r.loss, 100 * r.accuracy);
  if (has_top5) std::printf(", top-5 %.2f%%", 100 * r.top5_accuracy);
  std::printf("; batch %lld, peak memory %.0f MiB\n", static_cast<long long>(batch), peak_memory_mib());
  if (a.confusion_matrix) print_confusion(r);
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "evaluate a checkpoint on a test set: loss, top-1 and top-5 accuracy");
  cmd->add_option("--model", args->model, "model (default: the one the checkpoint records)");
  cmd->add_option("--checkpoint", args->checkpoint, "a .safetensors checkpoint")->required();
  add_data_options(cmd, args->data);
  cmd->add_option("--batch-size", args->batch_size, "default: sized to the images")->check(intrain::cli_limits::kBatch);
  cmd->add_flag("--confusion-matrix", args->confusion_matrix, "also print the confusion matrix");
  cmd->add_flag("--json", args->json, "print one JSON object on stdout instead of text");
  cmd->callback([args] { run(*args); });
}

}  // namespace intrain::cli
