// intrain train: train a model from scratch (or resume), with progress, metrics and checkpoints.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "cli/commands.hpp"
#include "cli/data_settings.hpp"
#include "cli/limits.hpp"
#include "cli/precision_option.hpp"
#include "cli/run_folder.hpp"
#include "core/threads.hpp"
#include "data/named_datasets.hpp"
#include "models/registry.hpp"
#include "nn/summary.hpp"
#include "train/distributed.hpp"
#include "train/trainer.hpp"

namespace intrain::cli {

namespace {

struct TrainArgs {
  std::string model = "lenet", dataset = "mnist", data_root = "data", out, resume;
  std::string optimizer = "sgd", schedule = "constant", precision = "f32";
  int64_t epochs = 3, batch_size = 64, step_size = 1, max_steps = 0, image_size = 0;
  float width = 1.0f;
  double lr = 0.01, momentum = 0.0, weight_decay = 0.0, gamma = 0.1, warmup = 0.0, max_loss = 1e3, max_weight = 1e6;
  float label_smoothing = 0.0f;
  bool nesterov = false, augment = false, no_progress = false, overwrite = false;
  bool sync_bn = false, no_overlap = false;  // data parallelism
  bool out_given = false, dataset_given = false, val_fraction_given = false;  // set after parsing
  // A tenth of the training images choose the best checkpoint, so the test set chooses
  // nothing (the tables in README.md were measured before, with the test set choosing).
  double val_fraction = 0.1;
  uint64_t seed = 1;
  int workers = 1;
  double bucket_mib = 1.0, collective_timeout = 0;  // data parallelism; timeout 0: the communicator's default
};

// With a validation split the test set has chosen nothing: its accuracy, of the last model
// and of the best checkpoint, is the run's result.
void report_test_accuracy(nn::Module& model, const std::string& spec, const data::DatasetPtr& test_set,
                          const std::string& out) {
  if (!test_set) {
    std::printf("; no test split (the image folder has no train/ and val/)");
    return;
  }
  data::DataLoader loader(test_set, {data::evaluation_batch_size(*test_set), false, 0, false, 1, 2});
  const double last = train::evaluate(model, loader).accuracy;
  nn::ModulePtr best = models::make_model(spec);
  train::load_checkpoint(out + "/best.safetensors", *best);
  std::printf("; test accuracy %.2f%% (last), %.2f%% (best checkpoint)", 100 * last,
              100 * train::evaluate(*best, loader).accuracy);
}

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

// The fraction held out for choosing the best checkpoint: the flag, else what a resumed run
// used (0 for files from before validation splits), else the default.
double choose_val_fraction(const TrainArgs& a, const train::RunState* resumed) {
  if (resumed) {
    INTRAIN_CHECK(!a.val_fraction_given || a.val_fraction == resumed->val_fraction, "--val-fraction ", a.val_fraction,
                  ": '", a.resume, "' was trained holding out ", resumed->val_fraction,
                  " of the training set; a resumed run keeps its split");
    return resumed->val_fraction;
  }
  return a.val_fraction;
}

void run(const TrainArgs& a) {
  train::Communicator& comm = train::Communicator::world();
  train::join_data_parallel_run(comm, a.batch_size, a.collective_timeout);
  apply_precision(a.precision, "train");
  manual_seed(a.seed);
  train::RunState prior;
  if (!a.resume.empty()) prior = train::read_checkpoint_state(a.resume);
  DataFlags flags{a.dataset_given || a.resume.empty() ? a.dataset : "", a.data_root, a.image_size};
  DataSettings settings = resolve_data(flags, prior, a.resume);
  INTRAIN_CHECK(a.resume.empty() || prior.dataset.empty() || prior.dataset == settings.dataset, "--resume: '", a.resume,
                "' was trained on ", prior.dataset, ", not ", settings.dataset, " (drop --dataset or start a new run)");
  settings.options.augment = a.augment;
  const double val_fraction = choose_val_fraction(a, a.resume.empty() ? nullptr : &prior);
  const TrainingSets sets = make_training_sets(settings, val_fraction);
  // The model is shaped by the data: classes, input channels, and a small-input stem for
  // 28x28 images. Its full specification goes into the checkpoints.
  const Shape example = sets.train->example_shape();
  const std::string spec = models::model_spec(a.model, a.width, sets.train->num_classes(), example[0], example[1]);
  nn::ModulePtr model = models::make_model(spec, default_generator());
  auto optimizer = make_optimizer(a, *model);
  auto schedule = make_schedule(a);
  // Rank 0 alone claims the folder (a second claim would take "-2"); the others learn its name.
  std::string out;
  if (comm.is_root())
    out = claim_run_folder(a.out_given ? a.out : default_run_folder(a.model, a.width, settings.dataset), a.out_given,
                           a.resume, a.overwrite);
  comm.broadcast(out, "broadcast of the run folder");
  train::RunState state;
  if (!a.resume.empty()) {
    state = train::load_checkpoint(a.resume, *model, optimizer.get());
    INTRAIN_CHECK(state.model_name.empty() || state.model_name == spec, "checkpoint '", a.resume, "' holds a ",
                  state.model_name, ", not a ", spec);
    if (!state.rng_state.empty()) default_generator().set_state(state.rng_state);
    std::printf("resuming from '%s' after epoch %lld\n", a.resume.c_str(), static_cast<long long>(state.epoch));
    std::fflush(stdout);
  }
  state.model_name = spec;
  record_data_settings(state, settings, *sets.base, val_fraction);
  // --batch-size is the global batch: each rank takes its share of it from its shard.
  data::DataLoader train_loader(sets.train, {a.batch_size / comm.size(), true, a.seed, false, a.workers, 4});
  data::DataLoader selection_loader(sets.selection, {data::evaluation_batch_size(*sets.selection), false, 0, false, a.workers, 2});
  std::string ranks;
  if (comm.distributed()) {
    train_loader.set_shard(comm.rank(), comm.size(), /*pad=*/true);
    selection_loader.set_shard(comm.rank(), comm.size(), /*pad=*/false);
    ranks = " (" + std::to_string(a.batch_size / comm.size()) + " on each of " + std::to_string(comm.size()) + " ranks)";
  }
  std::printf("training %s on %s (%lld images, %lld %s) for %lld epochs, batch %lld%s, %s lr %g, %d threads; run folder %s\n",
              spec.c_str(), settings.dataset.c_str(), static_cast<long long>(sets.train->size()),
              static_cast<long long>(sets.selection->size()), sets.selection_name.c_str(),
              static_cast<long long>(a.epochs), static_cast<long long>(a.batch_size), ranks.c_str(), a.optimizer.c_str(),
              a.lr, num_threads(), out.c_str());
  std::fflush(stdout);  // before the progress bar starts writing to stderr
  const train::FitOptions options{.epochs = a.epochs, .base_lr = a.lr, .label_smoothing = a.label_smoothing,
                                  .out_dir = out, .progress = !a.no_progress, .max_steps_per_epoch = a.max_steps,
                                  .max_loss = a.max_loss, .max_weight = a.max_weight, .on_epoch_start = {},
                                  .selection_name = sets.selection_name,
                                  .bucket_bytes = static_cast<int64_t>(a.bucket_mib * 1024 * 1024),
                                  .overlap_communication = !a.no_overlap, .sync_batch_norm = a.sync_bn,
                                  .on_training_steps = {}};
  const auto results = train::fit(*model, *optimizer, *schedule, train_loader, &selection_loader, options, state);
  if (results.empty()) {
    std::printf("nothing to train: '%s' already reached epoch %lld of --epochs %lld; raise --epochs to continue\n",
                a.resume.c_str(), static_cast<long long>(state.epoch), static_cast<long long>(a.epochs));
    return;
  }
  std::printf("done: %s accuracy %.2f%% (best %.2f%%)", sets.selection_name.c_str(), 100 * results.back().test_accuracy,
              100 * state.best_accuracy);
  // The test figures come from rank 0 alone, unsharded: the others are done.
  if (sets.selection_name == "val" && comm.is_root()) report_test_accuracy(*model, spec, sets.test, out);
  std::printf("; checkpoints and metrics in %s/\n", out.c_str());
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "train a model from scratch, or resume a run");
  cmd->add_option("--model", args->model, "lenet, lenet5_bn, mobilenet_v1, mobilenet_v2, resnet18")->capture_default_str();
  cmd->add_option("--width", args->width, "MobileNet width multiplier")->capture_default_str()->check(intrain::cli_limits::kWidth);
  CLI::Option* dataset = cmd->add_option("--dataset", args->dataset, "mnist, fashion-mnist or imagefolder:PATH (a folder of class folders, or with train/ and val/)")->capture_default_str();
  cmd->add_option("--image-size", args->image_size, "image side for imagefolder datasets (default 224)")->check(intrain::cli_limits::kImageSize);
  CLI::Option* val_fraction = cmd->add_option("--val-fraction", args->val_fraction,
                  "part of the training set held out (seeded, the same every run) to choose the best checkpoint; "
                  "0: the test split chooses")->capture_default_str()->check(CLI::Range(0.0, 0.9));
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
  add_precision_option(cmd, args->precision);
  cmd->add_flag("--augment", args->augment, "random 28x28 crops of the 2-pixel-padded MNIST images; random resized crops and flips of photos");
  cmd->add_option("--seed", args->seed, "seed for initialization, shuffling and dropout")->capture_default_str()->check(intrain::cli_limits::kSeed);
  cmd->add_option("--workers", args->workers, "data loading threads")->capture_default_str()->check(intrain::cli_limits::kWorkers);
  CLI::Option* out = cmd->add_option("--out", args->out,
                  "folder for checkpoints and metrics (default: runs/<model>-<dataset>, numbered -2, -3... when taken; "
                  "a given folder holding another run is refused)");
  cmd->add_option("--resume", args->resume, "continue from a checkpoint (e.g. runs/lenet-mnist/last.safetensors), in its folder");
  cmd->add_flag("--overwrite", args->overwrite, "replace the run the --out folder holds");
  cmd->add_option("--max-steps", args->max_steps, "cut each epoch after this many steps (0: whole epochs)")->check(intrain::cli_limits::kSteps);
  cmd->add_flag("--no-progress", args->no_progress, "no live progress bar");
  cmd->add_option("--max-loss", args->max_loss, "stop as diverged when a step's loss passes this (0: only NaN/inf)")
      ->capture_default_str()->check(CLI::Range(0.0, 1e30));
  cmd->add_option("--max-weight", args->max_weight, "stop as diverged when a weight's magnitude passes this (0: off)")
      ->capture_default_str()->check(CLI::Range(0.0, 1e30));
  cmd->add_option("--bucket-mib", args->bucket_mib, "under mpirun: MiB of gradients reduced together")
      ->capture_default_str()->check(CLI::Range(0.001, 4096.0));
  cmd->add_flag("--sync-bn", args->sync_bn, "under mpirun: batch-norm statistics over the global batch, not each rank's share");
  cmd->add_flag("--no-overlap", args->no_overlap, "under mpirun: reduce the gradients after backward, not while it runs");
  cmd->add_option("--collective-timeout", args->collective_timeout,
                  "under mpirun: seconds a rank waits for the others before ending the job (default 300, or "
                  "INTRAIN_COLLECTIVE_TIMEOUT)")->check(CLI::Range(0.1, 1e6));
  cmd->callback([args, dataset, val_fraction, out] {
    args->dataset_given = dataset->count() > 0;
    args->val_fraction_given = val_fraction->count() > 0;
    args->out_given = out->count() > 0;
    train::run_on_every_rank(train::Communicator::world(), [&] { run(*args); });
  });
}

}  // namespace intrain::cli
