// End-to-end training on generated digits-like data: the model learns, a resumed run
// continues exactly like an uninterrupted one, and a diverging run stops cleanly.
#include <doctest.h>

#include <filesystem>
#include <fstream>

#include "core/safetensors.hpp"
#include "data/mnist.hpp"
#include "models/lenet.hpp"
#include "nn/layers.hpp"
#include "tests/temp_dir.hpp"
#include "train/trainer.hpp"

using namespace intrain;
using intrain::testing::TempDir;

namespace {

// 28x28 images where class k is a bright 6x6 square at one of ten places, plus noise.
std::shared_ptr<data::MnistDataset> squares(int64_t n, uint64_t seed) {
  Generator gen(seed);
  std::vector<uint8_t> pixels(static_cast<size_t>(n * 784)), labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const auto k = static_cast<int64_t>(gen.next_u64() % 10);
    labels[static_cast<size_t>(i)] = static_cast<uint8_t>(k);
    for (int64_t p = 0; p < 784; ++p) pixels[static_cast<size_t>(i * 784 + p)] = static_cast<uint8_t>(gen.next_u64() % 60);
    const int64_t top = 2 + (k / 5) * 14, left = 1 + (k % 5) * 5;
    for (int64_t y = top; y < top + 6; ++y)
      for (int64_t x = left; x < left + 5; ++x) pixels[static_cast<size_t>(i * 784 + y * 28 + x)] = 250;
  }
  return std::make_shared<data::MnistDataset>(pixels, labels, 28, 28, data::normalize({0.2f}, {0.3f}));
}

struct Run {
  std::shared_ptr<nn::Sequential> model;
  std::unique_ptr<nn::SGD> optimizer;
};

Run fresh_run(uint64_t seed) {
  Generator gen(seed);
  Run r{models::lenet5_bn(gen), nullptr};
  r.optimizer = std::make_unique<nn::SGD>(r.model->named_parameters(), 0.05, nn::SgdOptions{0.9});
  return r;
}

}  // namespace

TEST_CASE("LeNet learns generated data well above chance in seconds") {
  Generator gen(1);
  auto model = models::lenet(gen);
  nn::SGD optimizer(model->named_parameters(), 0.05, nn::SgdOptions{0.9});
  data::DataLoader train_loader(squares(640, 1), {32, true, 1, false, 1, 2});
  data::DataLoader test_loader(squares(200, 2), {100, false, 0, false, 0, 1});
  train::RunState state;
  const auto results = train::fit(*model, optimizer, nn::ConstantLr(), train_loader, &test_loader,
                                  {.epochs = 2, .base_lr = 0.05, .progress = false}, state);
  REQUIRE(results.size() == 2);
  MESSAGE("test accuracy after 2 short epochs: ", results.back().test_accuracy);
  CHECK(results.back().test_accuracy > 0.8);  // chance is 0.1
  CHECK(results.back().train_loss < results.front().train_loss);
  const train::EvalResult eval = train::evaluate(*model, test_loader);
  CHECK(eval.count == 200);
  int64_t total = 0;
  for (auto& row : eval.confusion)
    for (int64_t n : row) total += n;
  CHECK(total == 200);
}

TEST_CASE("evaluation takes a model with more outputs than the dataset has classes") {
  // A 100-way classifier on 10-class data (what `train --model ...classes=100 --dataset mnist`
  // builds): its predictions past class 9 are counted, not written past the matrix.
  Generator gen(3);
  auto model = std::make_shared<nn::Sequential>();
  model->add(std::make_shared<nn::Flatten>());
  model->add(std::make_shared<nn::Linear>(784, 100, true, gen));
  data::DataLoader loader(squares(50, 4), {25, false, 0, false, 0, 1});
  const train::EvalResult eval = train::evaluate(*model, loader);
  CHECK(eval.confusion.size() == 100);
  int64_t total = 0, beyond = 0;
  for (size_t t = 0; t < eval.confusion.size(); ++t)
    for (size_t p = 0; p < eval.confusion[t].size(); ++p) {
      total += eval.confusion[t][p];
      beyond += p >= 10 ? eval.confusion[t][p] : 0;
      CHECK((t < 10 || eval.confusion[t][p] == 0));  // no label beyond the dataset's classes
    }
  CHECK(total == 50);
  MESSAGE("predictions beyond the dataset's classes: ", beyond, " of 50");
}

TEST_CASE("resuming from a checkpoint continues exactly like an uninterrupted run") {
  TempDir dir;
  manual_seed(7);
  auto dataset = squares(256, 3);
  const train::FitOptions two_epochs{.epochs = 2, .base_lr = 0.05, .progress = false};

  // Uninterrupted: two epochs.
  Run straight = fresh_run(11);
  data::DataLoader loader_a(dataset, {32, true, 4, false, 1, 2});
  train::RunState state_a;
  const auto full = train::fit(*straight.model, *straight.optimizer, nn::ConstantLr(), loader_a, nullptr, two_epochs,
                               state_a);

  // Interrupted: one epoch, checkpoint, then a new process-like start from the checkpoint.
  manual_seed(7);
  Run first = fresh_run(11);
  data::DataLoader loader_b(dataset, {32, true, 4, false, 2, 2});
  train::RunState state_b;
  train::FitOptions one_epoch = two_epochs;
  one_epoch.epochs = 1;
  one_epoch.out_dir = dir.str();
  train::fit(*first.model, *first.optimizer, nn::ConstantLr(), loader_b, nullptr, one_epoch, state_b);

  manual_seed(999);  // whatever the global generator holds, the checkpoint restores it
  Run resumed = fresh_run(12);
  train::RunState state_c = train::load_checkpoint(dir / "last.safetensors", *resumed.model, resumed.optimizer.get());
  default_generator().set_state(state_c.rng_state);
  CHECK(state_c.epoch == 1);
  data::DataLoader loader_c(dataset, {32, true, 4, false, 0, 2});
  const auto rest = train::fit(*resumed.model, *resumed.optimizer, nn::ConstantLr(), loader_c, nullptr, two_epochs,
                               state_c);
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].train_loss == full[1].train_loss);
  for (auto& [name, t] : straight.model->state_dict())
    CHECK(resumed.model->state_dict().at(name).to_vector<float>() == t.to_vector<float>());
  CHECK(state_c.global_step == state_a.global_step);
}

TEST_CASE("a diverging run stops with a message and keeps the last good checkpoint") {
  TempDir dir;
  auto dataset = squares(128, 5);
  Run run = fresh_run(3);
  data::DataLoader loader(dataset, {32, false, 0, false, 0, 1});
  train::RunState state;
  train::FitOptions options{.epochs = 1, .base_lr = 0.05, .out_dir = dir.str(), .progress = false};
  train::fit(*run.model, *run.optimizer, nn::ConstantLr(), loader, nullptr, options, state);
  const auto good = load_safetensors(dir / "last.safetensors").tensors.at("conv1.weight").to_vector<float>();
  // Poison a weight: the next forward pass produces NaN logits.
  run.model->named_parameters()[0].second.data<float>()[0] = NAN;
  options.epochs = 2;
  try {
    train::fit(*run.model, *run.optimizer, nn::ConstantLr(), loader, nullptr, options, state);
    FAIL("expected divergence to stop training");
  } catch (const Error& e) {
    const std::string m = e.what();
    CHECK(m.find("training diverged") != std::string::npos);
    CHECK(m.find("epoch 2, step 1") != std::string::npos);
    CHECK(m.find("last.safetensors in '" + dir.str() + "' is from before the divergence, intact") != std::string::npos);
  }
  CHECK(load_safetensors(dir / "last.safetensors").tensors.at("conv1.weight").to_vector<float>() == good);
}

TEST_CASE("a run cleans up what interrupted writes left, and writes last before best") {
  TempDir dir;
  // A write killed midway (its process, beyond any pid, is gone) and one whose process is
  // alive (pid 1), which may still be at work and stays.
  std::ofstream(dir / ".last.safetensors.tmp999999999") << "half a checkpoint";
  const std::string ours = dir / ".best.safetensors.tmp1";
  std::ofstream(ours) << "being written";
  auto dataset = squares(64, 5);
  data::DataLoader loader(dataset, {32, false, 0, false, 0, 1}), test(dataset, {64, false, 0, false, 0, 1});
  Run run = fresh_run(3);
  train::RunState state;
  train::fit(*run.model, *run.optimizer, nn::ConstantLr(), loader, &test,
             {.epochs = 1, .base_lr = 0.05, .out_dir = dir.str(), .progress = false}, state);
  CHECK_FALSE(std::filesystem::exists(dir / ".last.safetensors.tmp999999999"));
  CHECK(std::filesystem::exists(ours));
  CHECK(std::filesystem::exists(dir / "last.safetensors"));
  CHECK(std::filesystem::exists(dir / "best.safetensors"));
  CHECK(std::filesystem::last_write_time(dir / "last.safetensors") <= std::filesystem::last_write_time(dir / "best.safetensors"));
}

TEST_CASE("divergence is caught before NaN: an exploding loss, exploding weights, and what remains is named") {
  auto dataset = squares(128, 5);
  data::DataLoader loader(dataset, {32, false, 0, false, 0, 1});
  {
    // A learning rate that makes the loss explode within the epoch (finite, far above ln 10).
    TempDir dir;
    Run run = fresh_run(3);
    nn::SGD wild(run.model->named_parameters(), 1e4, nn::SgdOptions{0.9});
    train::RunState state;
    train::FitOptions options{.epochs = 3, .base_lr = 1e4, .out_dir = dir.str(), .progress = false};
    try {
      train::fit(*run.model, wild, nn::ConstantLr(), loader, nullptr, options, state);
      FAIL("expected divergence to stop training");
    } catch (const Error& e) {
      const std::string m = e.what();
      MESSAGE(m);
      CHECK(m.find("training diverged") != std::string::npos);
      CHECK(m.find("No checkpoint was written to '" + dir.str() + "' yet") != std::string::npos);
    }
    CHECK_FALSE(std::filesystem::exists(dir / "last.safetensors"));
  }
  {
    // Weights past the bound at the end of an epoch (its last step's update seen by no loss):
    // stopped before the checkpoints are overwritten.
    TempDir dir;
    Run run = fresh_run(3);
    train::RunState state;
    train::FitOptions options{.epochs = 1, .base_lr = 0.05, .out_dir = dir.str(), .progress = false};
    train::fit(*run.model, *run.optimizer, nn::ConstantLr(), loader, nullptr, options, state);
    const auto good = load_safetensors(dir / "last.safetensors").tensors.at("conv1.weight").to_vector<float>();
    options.epochs = 2;
    options.max_weight = 1e-3;  // every trained weight is past it
    try {
      train::fit(*run.model, *run.optimizer, nn::ConstantLr(), loader, nullptr, options, state);
      FAIL("expected divergence to stop training");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("a weight reached") != std::string::npos);
      CHECK(std::string(e.what()).find("end of epoch 2") != std::string::npos);
    }
    CHECK(load_safetensors(dir / "last.safetensors").tensors.at("conv1.weight").to_vector<float>() == good);
  }
}

TEST_CASE("checkpoints record the data settings a model was trained with") {
  TempDir dir;
  nn::ModulePtr model = models::lenet();
  train::RunState state;
  state.model_name = "lenet";
  state.dataset = "imagefolder:photos";
  state.input_shape = {1, 28, 28};
  state.mean = {0.1307f};
  state.std = {0.3081f};
  state.classes = {"a", "b, with a comma"};
  state.val_fraction = 0.1;
  train::save_checkpoint(dir / "c.safetensors", *model, nullptr, state);
  const train::RunState back = train::read_checkpoint_state(dir / "c.safetensors");
  CHECK(back.dataset == state.dataset);
  CHECK(back.input_shape == state.input_shape);
  CHECK(back.mean == state.mean);
  CHECK(back.std == state.std);
  CHECK(back.classes == state.classes);
  CHECK(back.val_fraction == doctest::Approx(0.1));
  // A malformed entry (a writer's bug or a hand edit) is an error naming the file.
  SafetensorsFile file = load_safetensors(dir / "c.safetensors");
  file.metadata["input_shape"] = "[1, -28, 28]";
  save_safetensors(dir / "bad.safetensors", file.tensors, file.metadata);
  CHECK_THROWS_WITH_AS(train::read_checkpoint_state(dir / "bad.safetensors"),
                       doctest::Contains("bad.safetensors"), Error);
}
