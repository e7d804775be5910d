// intrain train: train a model from scratch (or resume), with progress, metrics and checkpoints.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.hpp"
#include "cli/limits.hpp"
#include "core/threads.hpp"
#include "data/named_datasets.hpp"
#include "models/registry.hpp"
#include "nn/summary.hpp"
#include "train/trainer.hpp"

namespace intrain::cli {

namespace {

struct TrainArgs {
  std::string model = "lenet", dataset = "mnist", data_root = "data", out = "runs/lenet", resume;
  std::string optimizer = "sgd", schedule = "constant";
  int64_t epochs = 3, batch_size = 64, step_size = 1, max_steps = 0, image_size = 224;
  float width = 1.0f;
  double lr = 0.01, momentum = 0.0, weight_decay = 0.0, gamma = 0.1, warmup = 0.0, max_loss = 1e3, max_weight = 1e6;
  float label_smoothing = 0.0f;
  bool nesterov = false, augment = false, no_progress = false;
  uint64_t seed = 1;
  int workers = 1;
};

std::unique_ptr<nn::Optimizer> make_optimizer(const TrainArgs& a, const nn::Module& model) {
  if (a.optimizer == "sgd")
    return std::make_unique<nn::SGD>(model.named_parameters(), a.lr,
                                     nn::SgdOptions{a.momentum, 0.0, a.weight_decay, a.nesterov});
  if (a.optimizer == "adam")
    return std::make_unique<nn::Adam>(model.named_parameters(), a.lr, nn::AdamOptions{.weight_decay = a.weight_decay});
  if (a.optimizer == "adamw")
    return std::make_unique<nn::AdamW>(model.named_parameters(), a.lr, nn::AdamOptions{.weight_decay = a.weight_decay});
  throw Error("unknown optimizer '" + a.optimizer + "' (known: sgd, adam, adamw)");
}

std::unique_ptr<nn::LrSchedule> make_schedule(const TrainArgs& a) {
  if (a.schedule == "constant") return std::make_unique<nn::ConstantLr>();
  if (a.schedule == "step") return std::make_unique<nn::StepLr>(a.step_size, a.gamma);
  if (a.schedule == "cosine") return std::make_unique<nn::CosineLr>(static_cast<double>(a.epochs), a.warmup);
  throw Error("unknown schedule '" + a.schedule + "' (known: constant, step, cosine)");
}

void run(const TrainArgs& a) {
  manual_seed(a.seed);
  auto train_set = data::make_dataset(a.dataset, data::Split::train, a.data_root, a.augment, a.image_size);
  auto test_set = data::make_dataset(a.dataset, data::Split::test, a.data_root, false, a.image_size);
  // The model is shaped by the data: classes, input channels, and a small-input stem for
  // 28x28 images. Its full specification goes into the checkpoints.
  const Shape example = train_set->example_shape();
  const std::string spec = models::model_spec(a.model, a.width, train_set->num_classes(), example[0], example[1]);
  nn::ModulePtr model = models::make_model(spec, default_generator());
  auto optimizer = make_optimizer(a, *model);
  auto schedule = make_schedule(a);
  train::RunState state;
  state.model_name = spec;
  if (!a.resume.empty()) {
    state = train::load_checkpoint(a.resume, *model, optimizer.get());
    INTRAIN_CHECK(state.model_name.empty() || state.model_name == spec, "checkpoint '", a.resume, "' holds a ",
                  state.model_name, ", not a ", spec);
    state.model_name = spec;
    if (!state.rng_state.empty()) default_generator().set_state(state.rng_state);
    std::printf("resuming from '%s' after epoch %lld\n", a.resume.c_str(), static_cast<long long>(state.epoch));
    std::fflush(stdout);
  }
  data::DataLoader train_loader(train_set, {a.batch_size, true, a.seed, false, a.workers, 4});
  data::DataLoader test_loader(test_set, {data::evaluation_batch_size(*test_set), false, 0, false, a.workers, 2});
  std::printf("training %s on %s (%lld images, %lld test) for %lld epochs, batch %lld, %s lr %g, %d threads\n",
              spec.c_str(), a.dataset.c_str(), static_cast<long long>(train_set->size()),
              static_cast<long long>(test_set->size()), static_cast<long long>(a.epochs),
              static_cast<long long>(a.batch_size), a.optimizer.c_str(), a.lr, num_threads());
  std::fflush(stdout);  // before the progress bar starts writing to stderr
  const train::FitOptions options{.epochs = a.epochs, .base_lr = a.lr, .label_smoothing = a.label_smoothing,
                                  .out_dir = a.out, .progress = !a.no_progress, .max_steps_per_epoch = a.max_steps,
                                  .max_loss = a.max_loss, .max_weight = a.max_weight, .on_epoch_start = {}};
  const auto results = train::fit(*model, *optimizer, *schedule, train_loader, &test_loader, options, state);
  if (!results.empty())
    std::printf("done: test accuracy %.2f%% (best %.2f%%); checkpoints and metrics in %s/\n",
                100 * results.back().test_accuracy, 100 * state.best_accuracy, a.out.c_str());
  else
    std::printf("nothing to train: '%s' already reached epoch %lld of --epochs %lld; raise --epochs to continue\n",
                a.resume.c_str(), static_cast<long long>(state.epoch), static_cast<long long>(a.epochs));
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "train a model from scratch, or resume a run");
  cmd->add_option("--model", args->model, "lenet, lenet5_bn, mobilenet_v1, mobilenet_v2, resnet18")->capture_default_str();
  cmd->add_option("--width", args->width, "MobileNet width multiplier")->capture_default_str()->check(intrain::cli_limits::kWidth);
  cmd->add_option("--dataset", args->dataset, "mnist, fashion-mnist or imagefolder:PATH")->capture_default_str();
  cmd->add_option("--image-size", args->image_size, "crop size for imagefolder datasets")->capture_default_str()->check(intrain::cli_limits::kImageSize);
  cmd->add_option("--data-root", args->data_root, "folder holding mnist/ (and fashion-mnist/)")->capture_default_str();
  cmd->add_option("--epochs", args->epochs, "train until this epoch")->capture_default_str()->check(intrain::cli_limits::kEpochs);
  cmd->add_option("--batch-size", args->batch_size)->capture_default_str()->check(intrain::cli_limits::kBatch);
  cmd->add_option("--lr", args->lr, "base learning rate")->capture_default_str()->check(intrain::cli_limits::kLearningRate);
  cmd->add_option("--optimizer", args->optimizer, "sgd, adam or adamw")->capture_default_str();
  cmd->add_option("--momentum", args->momentum, "SGD momentum")->capture_default_str()->check(intrain::cli_limits::kMomentum);
  cmd->add_flag("--nesterov", args->nesterov, "Nesterov momentum (SGD)");
  cmd->add_option("--weight-decay", args->weight_decay)->capture_default_str()->check(intrain::cli_limits::kUnitInterval);
  cmd->add_option("--schedule", args->schedule, "constant, step or cosine")->capture_default_str();
  cmd->add_option("--step-size", args->step_size, "epochs between decays (step schedule)")->capture_default_str()->check(intrain::cli_limits::kEpochs);
  cmd->add_option("--gamma", args->gamma, "decay factor (step schedule)")->capture_default_str()->check(intrain::cli_limits::kUnitInterval);
  cmd->add_option("--warmup", args->warmup, "warm-up epochs (cosine schedule)")->capture_default_str()->check(CLI::Range(0, 100000));
  cmd->add_option("--label-smoothing", args->label_smoothing)->capture_default_str()->check(CLI::Range(0.0, 0.99));
  cmd->add_flag("--augment", args->augment, "random 28x28 crops of the 2-pixel-padded training images");
  cmd->add_option("--seed", args->seed, "seed for initialization, shuffling and dropout")->capture_default_str()->check(intrain::cli_limits::kSeed);
  cmd->add_option("--workers", args->workers, "data loading threads")->capture_default_str()->check(intrain::cli_limits::kWorkers);
  cmd->add_option("--out", args->out, "folder for checkpoints and metrics")->capture_default_str();
  cmd->add_option("--resume", args->resume, "continue from a checkpoint (e.g. runs/lenet/last.safetensors)");
  cmd->add_option("--max-steps", args->max_steps, "cut each epoch after this many steps (0: whole epochs)")->check(intrain::cli_limits::kSteps);
  cmd->add_flag("--no-progress", args->no_progress, "no live progress bar");
  cmd->add_option("--max-loss", args->max_loss, "stop as diverged when a step's loss passes this (0: only NaN/inf)")
      ->capture_default_str()->check(CLI::Range(0.0, 1e30));
  cmd->add_option("--max-weight", args->max_weight, "stop as diverged when a weight's magnitude passes this (0: off)")
      ->capture_default_str()->check(CLI::Range(0.0, 1e30));
  cmd->callback([args] { run(*args); });
}

}  // namespace intrain::cli
