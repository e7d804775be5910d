// intrain-infer: runs an int8 program on a test set with nothing but the executor and data
// loading. Reports top-1 accuracy, batch-1 latency (p50/p99), batch throughput and peak
// memory.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "cli/limits.hpp"
#include "core/ops.hpp"
#include "core/process_stats.hpp"
#include "core/threads.hpp"
#include "data/loader.hpp"
#include "data/mnist.hpp"
#include "data/named_datasets.hpp"
#include "int8/executor.hpp"
#include "int8/profile.hpp"

using namespace intrain;

int main(int argc, char** argv) {
  CLI::App app{"intrain-infer: run an int8 program on a dataset"};
  std::string program_path, dataset = "mnist", data_root = "data";
  int64_t batch_size = 64, latency_images = 1000;
  bool reference = false, pixels = false;
  app.add_option("--program", program_path, "int8 program written by intrain convert")->required();
  app.add_option("--dataset", dataset, "mnist or fashion-mnist")->capture_default_str();
  app.add_option("--data-root", data_root)->capture_default_str();
  app.add_option("--batch-size", batch_size, "batch for the throughput figure")->capture_default_str()->check(intrain::cli_limits::kBatch);
  app.add_option("--latency-images", latency_images, "images timed one at a time")->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1} << 24));
  app.add_flag("--reference", reference, "use the scalar reference kernels instead of the fast path");
  app.add_flag("--pixels", pixels, "feed raw 8-bit pixels (programs converted with --pixel-mean/--pixel-std)");
  bool profile = false;
  app.add_flag("--profile", profile, "also print each op's time at batch 1 (and at --batch-size)");
  CLI11_PARSE(app, argc, argv);
  try {
    const int8::Executor executor(int8::load_program(program_path), {!reference});
    auto test_set = data::make_dataset(dataset, data::Split::test, data_root);
    INTRAIN_CHECK(test_set->example_shape() == executor.program().input_shape, "'", dataset, "' images are ",
                  shape_str(test_set->example_shape()), " but program '", program_path, "' takes ",
                  shape_str(executor.program().input_shape));
    data::DataLoader loader(test_set, {batch_size, false, 0, false, 1, 4});
    loader.start_epoch(0);
    data::Batch batch;
    int64_t correct = 0, seen = 0;
    double busy = 0;
    const auto* mnist = dynamic_cast<const data::MnistDataset*>(test_set.get());
    INTRAIN_CHECK(!pixels || mnist, "--pixels reads the raw images of an MNIST-format dataset");
    while (loader.next(batch)) {
      Tensor raw;
      if (pixels) {  // the same images as the batch, as the 8-bit pixels on disk
        raw = Tensor::empty(batch.images.shape(), DType::u8);
        const int64_t per = shape_numel(executor.program().input_shape);
        for (int64_t n = 0; n < batch.labels.numel(); ++n)
          std::copy_n(mnist->pixels(seen + n), per, raw.data<uint8_t>() + n * per);
      }
      const auto start = std::chrono::steady_clock::now();
      Tensor logits = pixels ? executor.run_pixels(raw) : executor.run(batch.images);
      busy += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      correct += count_top1_correct(logits, batch.labels);
      seen += batch.labels.numel();
    }
    data::DataLoader singles(test_set, {1, false, 0, false, 0, 1});
    singles.start_epoch(0);
    std::vector<double> latencies;
    for (int64_t i = 0; i < latency_images && singles.next(batch); ++i) {
      const auto start = std::chrono::steady_clock::now();
      executor.run(batch.images);
      latencies.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(latencies.begin(), latencies.end());
    auto pct = [&](double p) { return latencies[std::min(latencies.size() - 1, static_cast<size_t>(p * static_cast<double>(latencies.size())))]; };
    std::printf("%s on %s test: top-1 accuracy %.2f%% (%lld images)\n", program_path.c_str(), dataset.c_str(),
                100.0 * static_cast<double>(correct) / static_cast<double>(seen), static_cast<long long>(seen));
    std::printf("kernels: %s; %d threads; input: %s\n", executor.kernels_name(), num_threads(),
                pixels ? "raw 8-bit pixels through the program's pixel table" : "normalized float images");
    std::printf("batch %lld: %.0f images/s\n", static_cast<long long>(batch_size), static_cast<double>(seen) / busy);
    if (!latencies.empty()) std::printf("batch 1 latency: p50 %.3f ms, p99 %.3f ms\n", pct(0.5), pct(0.99));
    std::printf("peak memory: %.0f MiB\n", peak_memory_mib());
    if (profile) {
      int8::print_profile(executor, 1);
      if (batch_size > 1) int8::print_profile(executor, batch_size);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "intrain-infer: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
