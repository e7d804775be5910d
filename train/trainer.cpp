#include "train/trainer.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/autograd.hpp"
#include "core/process_stats.hpp"
#include "core/safetensors.hpp"
#include "nn/sync_batch_norm.hpp"
#include "train/distributed.hpp"
#include "train/progress.hpp"

namespace intrain::train {

namespace {

// Appends one epoch to metrics.jsonl and metrics.csv (with a header when the file is new).
void append_metrics(const std::string& dir, const EpochResult& r, const std::string& held_out) {
  const nlohmann::json line = {{"epoch", r.epoch},
                               {"train_loss", r.train_loss},
                               {"train_accuracy", r.train_accuracy},
                               {held_out + "_loss", r.test_loss},
                               {held_out + "_accuracy", r.test_accuracy},
                               {"lr", r.lr},
                               {"seconds", r.seconds},
                               {"images_per_second", r.images_per_second},
                               {"peak_memory_mib", r.peak_memory_mib}};
  std::ofstream(dir + "/metrics.jsonl", std::ios::app) << line.dump() << "\n";
  const std::string csv = dir + "/metrics.csv";
  const bool fresh = !std::filesystem::exists(csv);
  std::ofstream out(csv, std::ios::app);
  if (fresh)
    out << "epoch,train_loss,train_accuracy," << held_out << "_loss," << held_out
        << "_accuracy,lr,seconds,images_per_second,peak_memory_mib\n";
  out << r.epoch << ',' << r.train_loss << ',' << r.train_accuracy << ',' << r.test_loss << ',' << r.test_accuracy
      << ',' << r.lr << ',' << r.seconds << ',' << r.images_per_second << ',' << r.peak_memory_mib << "\n";
  INTRAIN_CHECK(out.good(), "writing metrics to '", csv, "' failed");
}

// What the run folder holds, for a message after a failure: which checkpoints remain.
std::string checkpoints_left(const std::string& dir) {
  if (dir.empty()) return "";
  std::string found;
  for (const char* name : {"best.safetensors", "last.safetensors"})
    if (std::filesystem::exists(dir + "/" + name)) found += (found.empty() ? "" : " and ") + std::string(name);
  return found.empty() ? ". No checkpoint was written to '" + dir + "' yet"
                       : ". " + found + " in '" + dir + "' " + (found.find(" and ") != std::string::npos ? "are" : "is") +
                             " from before the divergence, intact";
}

// The largest weight magnitude, NaN if any weight is NaN.
double largest_weight(nn::Module& model) {
  double largest = 0;
  for (auto& [name, p] : model.named_parameters()) {
    if (p.dtype() != DType::f32) continue;
    const Tensor t = p.contiguous();
    const float* v = t.data<float>();
    for (int64_t i = 0, n = t.numel(); i < n; ++i) {
      if (std::isnan(v[i])) return std::nan("");
      largest = std::max(largest, static_cast<double>(std::fabs(v[i])));
    }
  }
  return largest;
}

// Sums the figures of every rank's shard into `result` (loss, counts and the confusion
// matrix, as doubles: exact for counts below 2^53).
void reduce_over_ranks(EvalResult& result, double& loss_sum, int64_t& correct, int64_t& top5) {
  Communicator& comm = Communicator::world();
  // Ranks may have met different model outputs (grow()): agree on the largest square first.
  double classes = static_cast<double>(result.confusion.size());
  std::vector<double> sizes(static_cast<size_t>(comm.size()), 0);
  sizes[static_cast<size_t>(comm.rank())] = classes;
  comm.allreduce_sum(sizes.data(), static_cast<int64_t>(sizes.size()), "evaluation reduction");
  const auto k = static_cast<size_t>(*std::max_element(sizes.begin(), sizes.end()));
  for (auto& row : result.confusion) row.resize(k, 0);
  result.confusion.resize(k, std::vector<int64_t>(k, 0));
  std::vector<double> sums{loss_sum, static_cast<double>(correct), static_cast<double>(top5),
                           static_cast<double>(result.count)};
  for (const auto& row : result.confusion)
    for (int64_t v : row) sums.push_back(static_cast<double>(v));
  comm.allreduce_sum(sums.data(), static_cast<int64_t>(sums.size()), "evaluation reduction");
  loss_sum = sums[0];
  correct = static_cast<int64_t>(sums[1]);
  top5 = static_cast<int64_t>(sums[2]);
  result.count = static_cast<int64_t>(sums[3]);
  size_t at = 4;
  for (auto& row : result.confusion)
    for (int64_t& v : row) v = static_cast<int64_t>(sums[at++]);
}

}  // namespace

int64_t count_topk_correct(const Tensor& logits_in, const Tensor& labels, int64_t k) {
  const Tensor logits = logits_in.contiguous();
  const int64_t n = logits.size(0), classes = logits.size(1);
  const float* scores = logits.data<float>();
  const int32_t* truth = labels.data<int32_t>();
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = scores + i * classes;
    if (truth[i] < 0 || truth[i] >= classes) continue;
    int64_t higher = 0;  // classes scored strictly above the true one
    for (int64_t c = 0; c < classes; ++c) higher += row[c] > row[truth[i]];
    correct += higher < k;
  }
  return correct;
}

EvalResult evaluate(nn::Module& model, data::DataLoader& loader) {
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  const int64_t classes = loader.dataset().num_classes();
  EvalResult result;
  // Square over the dataset's classes and the model's outputs, whichever are more: a model
  // may have outputs no label uses (a val/ folder missing a class of train/, a 100-way head
  // on 10 classes), and its predictions land there.
  auto grow = [&](int64_t n) {
    if (n <= static_cast<int64_t>(result.confusion.size())) return;
    for (auto& row : result.confusion) row.resize(static_cast<size_t>(n), 0);
    result.confusion.resize(static_cast<size_t>(n), std::vector<int64_t>(static_cast<size_t>(n), 0));
  };
  grow(classes);
  double loss_sum = 0;
  int64_t correct = 0, top5 = 0;
  loader.start_epoch(0);
  data::Batch batch;
  while (loader.next(batch)) {
    Tensor logits = model(batch.images);
    loss_sum += static_cast<double>(cross_entropy(logits, batch.labels, Reduction::sum).item());
    const auto predicted = argmax(logits, 1).to_vector<int32_t>();
    const int32_t* truth = batch.labels.data<int32_t>();
    grow(logits.size(1));
    if (logits.size(1) > 5) top5 += count_topk_correct(logits, batch.labels, 5);
    for (size_t i = 0; i < predicted.size(); ++i) {
      INTRAIN_CHECK(truth[i] >= 0 && truth[i] < static_cast<int64_t>(result.confusion.size()), "evaluate: label ",
                    truth[i], " is outside the dataset's ", classes, " classes");
      correct += predicted[i] == truth[i];
      ++result.confusion[static_cast<size_t>(truth[i])][static_cast<size_t>(predicted[i])];
    }
    result.count += batch.labels.numel();
  }
  model.train(was_training);
  if (loader.shards() > 1) reduce_over_ranks(result, loss_sum, correct, top5);
  result.loss = loss_sum / static_cast<double>(std::max<int64_t>(1, result.count));
  result.accuracy = static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(1, result.count));
  result.top5_accuracy = static_cast<double>(top5) / static_cast<double>(std::max<int64_t>(1, result.count));
  return result;
}

std::vector<EpochResult> fit(nn::Module& model, nn::Optimizer& optimizer, const nn::LrSchedule& schedule,
                             data::DataLoader& train_loader, data::DataLoader* test_loader, const FitOptions& options,
                             RunState& state) {
  Communicator& comm = Communicator::world();
  // Only rank 0 writes and prints; every rank trains, evaluates and checks the same way.
  const bool writes = !options.out_dir.empty() && comm.is_root();
  GradientSync gradient_sync(comm, model, options.bucket_bytes);
  gradient_sync.set_overlap(options.overlap_communication);
  if (comm.distributed()) gradient_sync.broadcast_parameters_and_buffers(model);
  if (comm.distributed() && options.sync_batch_norm) nn::synchronize_batch_norm(model, cross_rank_reducer(comm));
  if (writes) {
    std::filesystem::create_directories(options.out_dir);
    const int64_t removed = remove_abandoned_temporaries(options.out_dir);
    if (removed > 0)
      std::fprintf(stderr, "removed %lld temporary file(s) an interrupted write left in '%s'\n",
                   static_cast<long long>(removed), options.out_dir.c_str());
  }
  const nn::CrossEntropyLoss criterion(options.label_smoothing);
  const int64_t steps_per_epoch = options.max_steps_per_epoch > 0
                                      ? std::min(options.max_steps_per_epoch, train_loader.batches_per_epoch())
                                      : train_loader.batches_per_epoch();
  std::vector<EpochResult> results;
  for (int64_t epoch = state.epoch; epoch < options.epochs; ++epoch) {
    model.train();
    if (options.on_epoch_start) options.on_epoch_start(epoch);
    train_loader.start_epoch(epoch);
    // Over all ranks (padded shards count their repeated examples).
    const int64_t images_in_epoch =
        std::min(train_loader.shard_size(), steps_per_epoch * train_loader.options().batch_size) * comm.size();
    ProgressBar bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(options.epochs), images_in_epoch,
                    options.progress && comm.is_root());
    const auto start = std::chrono::steady_clock::now();
    const double averaging_before = gradient_sync.seconds_averaging();
    int64_t steps = 0;
    double loss_sum = 0;
    int64_t images = 0, correct = 0;
    data::Batch batch;
    if (options.on_training_steps) options.on_training_steps(true);
    for (int64_t step = 0; step < steps_per_epoch && train_loader.next(batch); ++step) {
      optimizer.set_lr(schedule.lr(options.base_lr, epoch, step, steps_per_epoch));
      Tensor logits = model(batch.images);
      Tensor loss = criterion(logits, batch.labels);
      // The step's loss and top-1 over all ranks, so that every rank decides alike whether
      // training diverged (for one rank: the batch's own loss, exactly).
      double step_sums[3] = {static_cast<double>(loss.item()) * static_cast<double>(batch.labels.numel()),
                             static_cast<double>(batch.labels.numel()), 0};
      {
        NoGradGuard no_grad;
        step_sums[2] = static_cast<double>(count_top1_correct(logits.detach(), batch.labels));
      }
      comm.allreduce_sum(step_sums, 3, "loss reduction");
      const auto loss_value = static_cast<float>(step_sums[0] / step_sums[1]);
      const bool loss_exploded = options.max_loss > 0 && loss_value > options.max_loss;
      if (!std::isfinite(loss_value) || loss_exploded) {
        if (comm.is_root()) bar.finish(loss_exploded ? "stopped: the loss exploded" : "stopped: the loss is not finite");
        throw Error("training diverged: the loss is " + std::to_string(loss_value) +
                    (loss_exploded ? " (above --max-loss " + std::to_string(options.max_loss) + ")" : "") +
                    " at epoch " + std::to_string(epoch + 1) + ", step " + std::to_string(step + 1) +
                    "; try a lower learning rate" + checkpoints_left(options.out_dir));
      }
      optimizer.zero_grad();
      gradient_sync.backward(loss);
      optimizer.step();
      ++state.global_step;
      ++steps;
      loss_sum += step_sums[0];
      images += static_cast<int64_t>(step_sums[1]);
      correct += static_cast<int64_t>(step_sums[2]);
      bar.update(images, loss_sum / static_cast<double>(images));
    }
    if (options.on_training_steps) options.on_training_steps(false);
    if (comm.distributed()) gradient_sync.broadcast_buffers(model);
    // The last step's update is in the weights but no loss has seen it: check the weights
    // themselves before anything is evaluated or saved.
    if (const double largest = largest_weight(model);
        std::isnan(largest) || std::isinf(largest) || (options.max_weight > 0 && largest > options.max_weight)) {
      if (comm.is_root()) bar.finish("stopped: the weights exploded");
      throw Error("training diverged: a weight reached " + std::to_string(largest) + " at the end of epoch " +
                  std::to_string(epoch + 1) + " (the bound is " + std::to_string(options.max_weight) +
                  "); try a lower learning rate" + checkpoints_left(options.out_dir));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EpochResult r;
    r.epoch = epoch + 1;
    r.train_loss = loss_sum / static_cast<double>(std::max<int64_t>(1, images));
    r.train_accuracy = static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(1, images));
    r.lr = optimizer.lr();
    r.seconds = seconds;
    r.images_per_second = static_cast<double>(images) / seconds;
    if (test_loader) {
      const EvalResult test = evaluate(model, *test_loader);
      r.test_loss = test.loss;
      r.test_accuracy = test.accuracy;
    }
    r.peak_memory_mib = peak_memory_mib();
    char summary[256];
    int written = std::snprintf(summary, sizeof summary, "epoch %lld/%lld  train loss %.4f  train acc %.2f%%",
                                static_cast<long long>(r.epoch), static_cast<long long>(options.epochs),
                                r.train_loss, 100 * r.train_accuracy);
    if (test_loader)
      written += std::snprintf(summary + written, sizeof summary - static_cast<size_t>(written),
                               "  %s loss %.4f  %s acc %.2f%%", options.selection_name.c_str(), r.test_loss,
                               options.selection_name.c_str(), 100 * r.test_accuracy);
    written += std::snprintf(summary + written, sizeof summary - static_cast<size_t>(written), "  %.1fs (%.0f img/s)",
                             r.seconds, r.images_per_second);
    if (comm.distributed())
      std::snprintf(summary + written, sizeof summary - static_cast<size_t>(written),
                    "  %d ranks, gradient allreduce %.2f ms/step", comm.size(),
                    1e3 * (gradient_sync.seconds_averaging() - averaging_before) / static_cast<double>(std::max<int64_t>(1, steps)));
    if (comm.is_root()) bar.finish(summary);
    state.epoch = epoch + 1;
    state.rng_state = default_generator().state();
    const bool better = !options.out_dir.empty() && test_loader && r.test_accuracy > state.best_accuracy;
    if (better) state.best_accuracy = r.test_accuracy;
    if (writes) {
      // last before best: a run killed between the two writes can always resume.
      save_checkpoint(options.out_dir + "/last.safetensors", model, &optimizer, state);
      if (better) save_checkpoint(options.out_dir + "/best.safetensors", model, &optimizer, state);
      append_metrics(options.out_dir, r, options.selection_name);
    }
    results.push_back(r);
  }
  return results;
}

}  // namespace intrain::train
