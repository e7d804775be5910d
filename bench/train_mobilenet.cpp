// Training throughput of MobileNetV1 (width 0.75, small-input stem, 10 classes) on 32x32
// RGB images at batch 128: forward, cross entropy, backward and an SGD step (momentum 0.9,
// weight decay 5e-4) on fixed random batches, so only the engine is timed, not a data
// pipeline. bench/pytorch_train_mobilenet.py runs the same network and step in PyTorch.
//   build/bench/train_mobilenet [--steps N] [--batch-size B] [--model SPEC] [--image-size S]
//                               [--precision f32|bf16]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/compute_precision.hpp"
#include "core/process_stats.hpp"
#include "core/threads.hpp"
#include "models/registry.hpp"
#include "nn/loss.hpp"
#include "nn/optimizer.hpp"

using namespace intrain;

int main(int argc, char** argv) {
  CLI::App app{"MobileNet training throughput at 32x32"};
  std::string spec = "mobilenet_v1:width=0.75,classes=10,in_channels=3,small_input=1";
  int64_t steps = 10, batch_size = 128, image_size = 32;
  std::string precision = "f32";
  app.add_option("--model", spec)->capture_default_str();
  app.add_option("--steps", steps, "timed steps (after 2 warm-up steps)")->capture_default_str();
  app.add_option("--batch-size", batch_size)->capture_default_str();
  app.add_option("--image-size", image_size, "square input side (224: pass a --model without small_input)")
      ->capture_default_str();
  app.add_option("--precision", precision, "f32 or bf16 (convolutions on bf16 inputs, f32 accumulation)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    set_compute_precision(parse_precision(precision));
    Generator gen(1);
    nn::ModulePtr model = models::make_model(spec, gen);
    model->train();
    nn::SGD optimizer(model->named_parameters(), 0.01, nn::SgdOptions{.momentum = 0.9, .weight_decay = 5e-4});
    const nn::CrossEntropyLoss loss_fn;
    Tensor images = Tensor::randn({batch_size, 3, image_size, image_size}, gen);
    std::vector<int32_t> labels(static_cast<size_t>(batch_size));
    for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int32_t>(i % 10);
    const Tensor targets = Tensor::from_vector(labels, {batch_size});
    double loss = 0;
    auto step = [&] {
      optimizer.zero_grad();
      Tensor l = loss_fn((*model)(images), targets);
      l.backward();
      optimizer.step();
      loss = l.item();
    };
    for (int i = 0; i < 2; ++i) step();
    const auto start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < steps; ++i) step();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("intrain %s, %lldx%lld, batch %lld, %s, %d threads: %.1f ms/step, %.0f images/s, loss %.3f, "
                "peak memory %.0f MiB\n",
                spec.c_str(), static_cast<long long>(image_size), static_cast<long long>(image_size),
                static_cast<long long>(batch_size), precision.c_str(), num_threads(), 1e3 * seconds / static_cast<double>(steps),
                static_cast<double>(batch_size * steps) / seconds, loss, peak_memory_mib());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_mobilenet: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
