// intrain eval: loss, top-1 accuracy and the confusion matrix of a checkpoint on a test set.
#include <cstdio>
#include <memory>

#include "cli/commands.hpp"
#include "cli/limits.hpp"
#include "cli/model_loading.hpp"
#include "data/named_datasets.hpp"
#include "train/trainer.hpp"

namespace intrain::cli {

namespace {

struct EvalArgs {
  std::string model, checkpoint, dataset = "mnist", data_root = "data";
  int64_t batch_size = 0;  // 0: sized to the images
};

void run(const EvalArgs& a) {
  // Fake-quantized checkpoints carry their quantization config and evaluate as such.
  nn::ModulePtr model = load_model(a.model, a.checkpoint).model;
  auto test_set = data::make_dataset(a.dataset, data::Split::test, a.data_root);
  data::DataLoader loader(test_set, {a.batch_size > 0 ? a.batch_size : data::evaluation_batch_size(*test_set), false, 0, false, 1, 2});
  const train::EvalResult r = train::evaluate(*model, loader);
  std::printf("%s on %s test (%lld images): loss %.4f, top-1 accuracy %.2f%%\n", a.checkpoint.c_str(),
              a.dataset.c_str(), static_cast<long long>(r.count), r.loss, 100 * r.accuracy);
  std::printf("confusion matrix (rows: true class, columns: predicted):\n      ");
  for (size_t c = 0; c < r.confusion.size(); ++c) std::printf("%6zu", c);
  std::printf("\n");
  for (size_t t = 0; t < r.confusion.size(); ++t) {
    std::printf("%6zu", t);
    for (int64_t n : r.confusion[t]) std::printf("%6lld", static_cast<long long>(n));
    std::printf("\n");
  }
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "evaluate a checkpoint: loss, top-1 accuracy, confusion matrix");
  cmd->add_option("--model", args->model, "model (default: the one the checkpoint records)");
  cmd->add_option("--checkpoint", args->checkpoint, "a .safetensors checkpoint")->required();
  cmd->add_option("--dataset", args->dataset, "mnist or fashion-mnist")->capture_default_str();
  cmd->add_option("--data-root", args->data_root)->capture_default_str();
  cmd->add_option("--batch-size", args->batch_size, "default: sized to the images")->check(intrain::cli_limits::kBatch);
  cmd->callback([args] { run(*args); });
}

}  // namespace intrain::cli
