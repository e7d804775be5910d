// End-to-end training throughput: LeNet on real MNIST with the classic recipe (batch 64,
// SGD lr 0.01 momentum 0.5), whole epochs. Prints seconds per epoch, images/s and peak
// memory; bench/pytorch_lenet.py measures PyTorch the same way, and scripts/bench-training
// runs both side by side. With --qat ALGO the model is trained with fake quantization
// (--wbits/--abits), to measure what simulated quantization costs per epoch.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "core/threads.hpp"
#include "models/registry.hpp"
#include "quant/prepare.hpp"
#include "data/named_datasets.hpp"
#include "train/progress.hpp"
#include "train/trainer.hpp"

using namespace intrain;

int main(int argc, char** argv) {
  CLI::App app{"LeNet training throughput on MNIST"};
  std::string model_name = "lenet", data_root = "data";
  int64_t epochs = 1, batch_size = 64;
  std::string qat;
  int wbits = 8, abits = 8;
  app.add_option("--qat", qat, "fake-quantize with minmax, pact, lsq or sat");
  app.add_option("--wbits", wbits)->capture_default_str();
  app.add_option("--abits", abits)->capture_default_str();
  app.add_option("--model", model_name)->capture_default_str();
  app.add_option("--epochs", epochs)->capture_default_str();
  app.add_option("--batch-size", batch_size)->capture_default_str();
  app.add_option("--data-root", data_root)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    manual_seed(1);
    nn::ModulePtr model = models::make_model(model_name);
    if (!qat.empty()) {
      quant::QuantConfig config;
      config.algorithm = quant::parse_algorithm(qat);
      config.weight_bits = wbits;
      config.activation_bits = abits;
      quant::prepare_qat(*model, config);
    }
    nn::SGD optimizer(model->named_parameters(), 0.01, nn::SgdOptions{0.5});
    data::DataLoader loader(data::make_dataset("mnist", data::Split::train, data_root), {batch_size, true, 1, false, 1, 4});
    train::RunState state;
    const auto results = train::fit(*model, optimizer, nn::ConstantLr(), loader, nullptr,
                                    {.epochs = epochs, .base_lr = 0.01, .progress = false}, state);
    for (const auto& r : results)
      std::printf("intrain %s%s epoch %lld: %.2f s, %.0f images/s, train loss %.4f, peak memory %.0f MiB, %d threads\n",
                  model_name.c_str(), qat.empty() ? "" : (" qat-" + qat).c_str(), static_cast<long long>(r.epoch), r.seconds, r.images_per_second, r.train_loss,
                  r.peak_memory_mib, num_threads());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_lenet: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
