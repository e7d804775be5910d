#pragma once
// The training loop shared by `intrain train` and the tests: epochs of forward, loss,
// backward and optimizer steps over a DataLoader, evaluation after each epoch, a metrics
// file (JSON lines and CSV), best and last checkpoints, and a stop with a clear message
// when the loss stops being finite. Under mpirun the same loop runs data-parallel (see
// train/gradient_sync.hpp): the loaders read their rank's shard, gradients are averaged,
// losses and accuracies are reduced over the ranks, and rank 0 alone prints and writes.
#include <functional>
#include <string>
#include <vector>

#include "data/loader.hpp"
#include "nn/loss.hpp"
#include "nn/lr_schedule.hpp"
#include "nn/module.hpp"
#include "nn/optimizer.hpp"
#include "train/checkpoint.hpp"
#include "train/gradient_sync.hpp"

namespace intrain::train {

struct EvalResult {
  double loss = 0;
  double accuracy = 0;  // top-1, in [0, 1]
  double top5_accuracy = 0;  // the true class among the five highest scores (models of over 5 outputs)
  int64_t count = 0;
  std::vector<std::vector<int64_t>> confusion;  // [true class][predicted class]
};

// With a sharded loader (DataLoader::set_shard), every rank evaluates its shard and the
// result is reduced over the ranks: each rank returns the whole dataset's figures.
EvalResult evaluate(nn::Module& model, data::DataLoader& loader);

struct EpochResult {
  int64_t epoch = 0;  // 1-based
  double train_loss = 0, train_accuracy = 0;
  double test_loss = 0, test_accuracy = 0;  // on the selection set: FitOptions::selection_name
  double lr = 0, seconds = 0, images_per_second = 0, peak_memory_mib = 0;
};

struct FitOptions {
  int64_t epochs = 1;  // the epoch to stop after (resumed runs continue to it)
  double base_lr = 0.01;
  float label_smoothing = 0;
  std::string out_dir;  // checkpoints and metrics go here; empty: none written
  bool progress = true;
  int64_t max_steps_per_epoch = 0;  // 0: whole epochs (benchmarks and tests cut them short)
  // Divergence: a training loss above max_loss (cross-entropy starts near ln(classes), 2.3
  // for ten) or a weight whose magnitude passes max_weight stops training with an error
  // before anything is saved; 0 turns either bound off. NaN and infinity always stop it.
  double max_loss = 1e3;
  double max_weight = 1e6;
  // Called before each epoch (0-based) trains; QAT freezes batch norm from here.
  std::function<void(int64_t epoch)> on_epoch_start;
  // What the held-out loader of fit() is: "test", or "val" for a validation split of the
  // training set. It chooses the best checkpoint, and names the columns of the metrics
  // files (val_loss, val_accuracy) and the epoch summary.
  std::string selection_name = "test";
  // Data parallelism (several ranks): the size of the gradient buckets reduced together.
  int64_t bucket_bytes = GradientSync::kDefaultBucketBytes;
  // Start each bucket's reduction during backward (false: after it, for comparison).
  bool overlap_communication = true;
  // Batch-norm statistics over the global batch (nn/sync_batch_norm.hpp) instead of each
  // rank's share: every BatchNorm2d of the model gets the ranks' reducer.
  bool sync_batch_norm = false;
  // Called with true before each epoch's training steps and false after them, before
  // evaluation: QAT reduces its observers over the ranks in between (quant/observer.hpp),
  // never during the sharded evaluation, whose ranks may run different batch counts.
  std::function<void(bool training_steps)> on_training_steps = {};
};

// How many rows of `logits` [N, K] have their label among the k highest scores (a label
// tied with the k-th score counts as in).
int64_t count_topk_correct(const Tensor& logits, const Tensor& labels, int64_t k);

// Trains from state.epoch to options.epochs; updates `state` as it goes; the best checkpoint
// is the one best on `selection_loader` (see FitOptions::selection_name).
std::vector<EpochResult> fit(nn::Module& model, nn::Optimizer& optimizer, const nn::LrSchedule& schedule,
                             data::DataLoader& train_loader, data::DataLoader* selection_loader, const FitOptions& options,
                             RunState& state);

}  // namespace intrain::train
