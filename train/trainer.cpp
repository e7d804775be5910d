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
  result.loss = loss_sum / static_cast<double>(std::max<int64_t>(1, result.count));
  result.accuracy = static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(1, result.count));
  result.top5_accuracy = static_cast<double>(top5) / static_cast<double>(std::max<int64_t>(1, result.count));
  return result;
}

std::vector<EpochResult> fit(nn::Module& model, nn::Optimizer& optimizer, const nn::LrSchedule& schedule,
                             data::DataLoader& train_loader, data::DataLoader* test_loader, const FitOptions& options,
                             RunState& state) {
  if (!options.out_dir.empty()) {
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
    const int64_t images_in_epoch =
        std::min(train_loader.dataset().size(), steps_per_epoch * train_loader.options().batch_size);
    ProgressBar bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(options.epochs), images_in_epoch,
                    options.progress);
    const auto start = std::chrono::steady_clock::now();
    double loss_sum = 0;
    int64_t images = 0, correct = 0;
    data::Batch batch;
    for (int64_t step = 0; step < steps_per_epoch && train_loader.next(batch); ++step) {
      optimizer.set_lr(schedule.lr(options.base_lr, epoch, step, steps_per_epoch));
      Tensor logits = model(batch.images);
      Tensor loss = criterion(logits, batch.labels);
      const float loss_value = loss.item();
      const bool loss_exploded = options.max_loss > 0 && loss_value > options.max_loss;
      if (!std::isfinite(loss_value) || loss_exploded) {
        bar.finish(loss_exploded ? "stopped: the loss exploded" : "stopped: the loss is not finite");
        throw Error("training diverged: the loss is " + std::to_string(loss_value) +
                    (loss_exploded ? " (above --max-loss " + std::to_string(options.max_loss) + ")" : "") +
                    " at epoch " + std::to_string(epoch + 1) + ", step " + std::to_string(step + 1) +
                    "; try a lower learning rate" + checkpoints_left(options.out_dir));
      }
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      ++state.global_step;
      const int64_t n = batch.labels.numel();
      loss_sum += static_cast<double>(loss_value) * static_cast<double>(n);
      images += n;
      {
        NoGradGuard no_grad;
        correct += count_top1_correct(logits.detach(), batch.labels);
      }
      bar.update(images, loss_sum / static_cast<double>(images));
    }
    // The last step's update is in the weights but no loss has seen it: check the weights
    // themselves before anything is evaluated or saved.
    if (const double largest = largest_weight(model);
        std::isnan(largest) || std::isinf(largest) || (options.max_weight > 0 && largest > options.max_weight)) {
      bar.finish("stopped: the weights exploded");
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
    std::snprintf(summary + written, sizeof summary - static_cast<size_t>(written), "  %.1fs (%.0f img/s)", r.seconds,
                  r.images_per_second);
    bar.finish(summary);
    state.epoch = epoch + 1;
    state.rng_state = default_generator().state();
    if (!options.out_dir.empty()) {
      // last before best: a run killed between the two writes can always resume.
      const bool better = test_loader && r.test_accuracy > state.best_accuracy;
      if (better) state.best_accuracy = r.test_accuracy;
      save_checkpoint(options.out_dir + "/last.safetensors", model, &optimizer, state);
      if (better) save_checkpoint(options.out_dir + "/best.safetensors", model, &optimizer, state);
      append_metrics(options.out_dir, r, options.selection_name);
    }
    results.push_back(r);
  }
  return results;
}

}  // namespace intrain::train
