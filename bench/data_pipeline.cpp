// Data pipeline throughput: decoded-and-transformed images/s of an ImageFolder with the
// ImageNet eval preset (Resize 256 → CenterCrop 224 → Normalize), for 1 and 2 workers.
//   build/bench/data_pipeline [FOLDER]   (default: ../shared/data/imagenet-sample)
#include <chrono>
#include <cstdio>

#include "data/image_folder.hpp"
#include "data/image_transforms.hpp"
#include "data/loader.hpp"

using namespace intrain;

int main(int argc, char** argv) {
  const std::string root = argc > 1 ? argv[1] : "../shared/data/imagenet-sample";
  try {
    auto set = std::make_shared<data::ImageFolder>(root, data::imagenet_eval(), Shape{3, 224, 224});
    for (int workers : {1, 2}) {
      data::DataLoader loader(set, {32, false, 0, false, workers, 4});
      double best = 0;
      for (int round = 0; round < 3; ++round) {
        loader.start_epoch(round);
        const auto start = std::chrono::steady_clock::now();
        data::Batch b;
        int64_t n = 0;
        while (loader.next(b)) n += b.labels.numel();
        best = std::max(best, static_cast<double>(n) / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
      std::printf("%s: %lld images, eval preset, %d worker(s): %.0f images/s\n", root.c_str(),
                  static_cast<long long>(set->size()), workers, best);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "data_pipeline: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
