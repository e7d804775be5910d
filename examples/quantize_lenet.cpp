// The library end to end from an installed copy (`pkg-config --cflags --libs intrain`):
// build LeNet by name, train it briefly on synthetic 28x28 images, calibrate it for int8
// (PTQ), convert it to an integer-only program and check that the int8 executor agrees
// with the float model. Exits non-zero when they do not, so it doubles as a test.
#include <cstdio>
#include <vector>

#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "data/loader.hpp"
#include "data/mnist.hpp"
#include "int8/executor.hpp"
#include "models/registry.hpp"
#include "nn/optimizer.hpp"
#include "quant/config.hpp"
#include "quant/convert.hpp"
#include "quant/prepare.hpp"

using namespace intrain;

namespace {

// Class c (of 4) lights up quadrant c of the image; the rest is noise.
std::shared_ptr<data::MnistDataset> quadrants(int64_t n, Generator& gen) {
  std::vector<uint8_t> pixels(static_cast<size_t>(n * 784)), labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const auto c = static_cast<int>(gen.next_u64() % 4);
    labels[static_cast<size_t>(i)] = static_cast<uint8_t>(c);
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x) {
        const bool lit = (y < 14) == (c < 2) && (x < 14) == (c % 2 == 0);
        pixels[static_cast<size_t>(i * 784 + y * 28 + x)] = static_cast<uint8_t>((lit ? 140 : 0) + gen.next_u64() % 100);
      }
  }
  return std::make_shared<data::MnistDataset>(std::move(pixels), std::move(labels), 28, 28);
}

}  // namespace

int main() {
  try {
    Generator gen(7);
    nn::ModulePtr model = models::make_model("lenet", gen);
    auto train_set = quadrants(512, gen), test_set = quadrants(256, gen);
    data::DataLoader loader(train_set, {.batch_size = 32, .shuffle = true, .seed = 1});
    nn::SGD optimizer(model->named_parameters(), 0.02, nn::SgdOptions{0.9});
    data::Batch batch;
    for (int epoch = 0; epoch < 2; ++epoch)
      for (loader.start_epoch(epoch); loader.next(batch);) {
        optimizer.zero_grad();
        Tensor loss = cross_entropy((*model)(batch.images), batch.labels);
        loss.backward();
        optimizer.step();
      }

    // Float predictions, then PTQ: observers calibrate on training batches, convert.
    data::DataLoader test_loader(test_set, {.batch_size = 256});
    data::Batch test;
    test_loader.start_epoch(0);
    test_loader.next(test);
    model->eval();
    Tensor float_pred;
    {
      NoGradGuard no_grad;
      float_pred = argmax((*model)(test.images), 1);
    }
    quant::prepare_ptq(*model, quant::preset("w8a8"));
    quant::calibrate(*model, loader, 4);
    int8::Executor executor(quant::convert(*model, {1, 28, 28}, "lenet"));
    const Tensor int8_pred = argmax(executor.run(test.images), 1);

    const auto f = float_pred.to_vector<int32_t>(), q = int8_pred.to_vector<int32_t>(), y = test.labels.to_vector<int32_t>();
    int64_t float_right = 0, int8_right = 0, agree = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      float_right += f[i] == y[i];
      int8_right += q[i] == y[i];
      agree += f[i] == q[i];
    }
    const auto n = static_cast<double>(y.size());
    std::printf("float accuracy %.1f%%, int8 accuracy %.1f%%, agreement %.1f%% (%s kernels)\n", 100 * float_right / n,
                100 * int8_right / n, 100 * agree / n, executor.kernels_name());
    return float_right / n > 0.9 && agree / n > 0.95 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
