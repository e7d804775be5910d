// intrain-infer: runs an int8 program on a test set with nothing but the executor and data
// loading. Reports top-1 (and top-5) accuracy, batch-1 latency (p50/p99), batch throughput
// and peak memory, as text or one JSON object, and optionally every image's prediction.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/limits.hpp"
#include "core/process_stats.hpp"
#include "core/threads.hpp"
#include "data/image_folder.hpp"
#include "data/loader.hpp"
#include "data/mnist.hpp"
#include "data/named_datasets.hpp"
#include "int8/executor.hpp"
#include "int8/profile.hpp"

using namespace intrain;

namespace {

constexpr int64_t kTopK = 5;

// The k highest-scoring classes of one row of logits with their softmax probabilities.
std::vector<std::pair<int64_t, double>> top_k(const float* logits, int64_t classes, int64_t k) {
  const float largest = *std::max_element(logits, logits + classes);
  double total = 0;
  for (int64_t c = 0; c < classes; ++c) total += std::exp(static_cast<double>(logits[c] - largest));
  std::vector<int64_t> order(static_cast<size_t>(classes));
  for (int64_t c = 0; c < classes; ++c) order[static_cast<size_t>(c)] = c;
  k = std::min(k, classes);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int64_t a, int64_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  std::vector<std::pair<int64_t, double>> out;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t c = order[static_cast<size_t>(i)];
    out.emplace_back(c, std::exp(static_cast<double>(logits[c] - largest)) / total);
  }
  return out;
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"intrain-infer: run an int8 program on a dataset"};
  app.set_version_flag("--version", "intrain-infer " INTRAIN_VERSION);
  std::string program_path, dataset, data_root = "data", predictions_path;
  int64_t batch_size = 64, latency_images = 1000, image_size = 0;
  bool reference = false, pixels = false, json = false;
  app.add_option("--program", program_path, "int8 program written by intrain convert")->required();
  app.add_option("--dataset", dataset, "mnist, fashion-mnist or imagefolder:PATH (default: the program's)");
  app.add_option("--data-root", data_root)->capture_default_str();
  app.add_option("--image-size", image_size, "image side for imagefolder datasets (default, and the only one: the program's)")
      ->check(intrain::cli_limits::kImageSize);
  app.add_option("--batch-size", batch_size, "batch for the throughput figure")->capture_default_str()->check(intrain::cli_limits::kBatch);
  app.add_option("--latency-images", latency_images, "images timed one at a time")->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1} << 24));
  app.add_flag("--reference", reference, "use the scalar reference kernels instead of the fast path");
  app.add_flag("--pixels", pixels, "feed raw 8-bit pixels (programs converted with --pixel-input or --pixel-mean/--pixel-std)");
  app.add_flag("--json", json, "print one JSON object on stdout instead of text");
  app.add_option("--predictions", predictions_path,
                 "write each image's prediction to this CSV file: index, file, label, predicted, top-5 class:probability");
  bool profile = false;
  app.add_flag("--profile", profile, "also print each op's time at batch 1 (and at --batch-size)");
  CLI11_PARSE(app, argc, argv);
  try {
    const int8::Executor executor(int8::load_program(program_path), {!reference});
    const int8::Program& program = executor.program();
    // The dataset, image size and normalization the program was converted for, unless given.
    if (dataset.empty()) dataset = !program.dataset.empty() ? program.dataset : "mnist";
    const Shape& input = program.input_shape;
    INTRAIN_CHECK(image_size == 0 || (image_size == input[1] && image_size == input[2]), "--image-size ", image_size,
                  ": program '", program_path, "' takes ", shape_str(input), " images only (convert it again at that size)");
    data::DatasetOptions options;
    options.data_root = data_root;
    if (data::is_image_folder(dataset)) options.image_size = input[1];
    options.mean = program.input_mean;
    options.std = program.input_std;
    auto test_set = data::make_dataset(dataset, data::Split::test, options);
    INTRAIN_CHECK(test_set->example_shape() == input, "'", dataset, "' images are ", shape_str(test_set->example_shape()),
                  " but program '", program_path, "' takes ", shape_str(input));
    const auto* mnist = dynamic_cast<const data::MnistDataset*>(test_set.get());
    const auto* folder = dynamic_cast<const data::ImageFolder*>(test_set.get());
    INTRAIN_CHECK(!pixels || mnist, "--pixels reads the raw images of an MNIST-format dataset");
    std::ofstream predictions;
    if (!predictions_path.empty()) {
      predictions.open(predictions_path);
      INTRAIN_CHECK(predictions.good(), "--predictions: cannot write '", predictions_path, "'");
      predictions << "index,file,label,predicted";
      for (int64_t k = 1; k <= kTopK; ++k) predictions << ",top" << k;
      predictions << "\n";
    }
    auto class_name = [&](int64_t c) {
      return c < static_cast<int64_t>(program.classes.size()) ? program.classes[static_cast<size_t>(c)] : std::to_string(c);
    };
    data::DataLoader loader(test_set, {batch_size, false, 0, false, 1, 4});
    loader.start_epoch(0);
    data::Batch batch;
    int64_t correct = 0, correct5 = 0, seen = 0;
    double busy = 0;
    const int64_t outputs = program.num_outputs();
    while (loader.next(batch)) {
      Tensor raw;
      if (pixels) {  // the same images as the batch, as the 8-bit pixels on disk
        raw = Tensor::empty(batch.images.shape(), DType::u8);
        const int64_t per = shape_numel(input);
        for (int64_t n = 0; n < batch.labels.numel(); ++n)
          std::copy_n(mnist->pixels(seen + n), per, raw.data<uint8_t>() + n * per);
      }
      const auto start = std::chrono::steady_clock::now();
      Tensor logits = (pixels ? executor.run_pixels(raw) : executor.run(batch.images)).contiguous();
      busy += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const float* scores = logits.data<float>();
      const int32_t* labels = batch.labels.data<int32_t>();
      for (int64_t n = 0; n < batch.labels.numel(); ++n) {
        const auto best = top_k(scores + n * outputs, outputs, kTopK);
        correct += best[0].first == labels[n];
        for (const auto& [c, p] : best) correct5 += c == labels[n];
        if (!predictions.is_open()) continue;
        const int64_t index = seen + n;
        predictions << index << ',' << csv_field(folder ? folder->path(index) : "") << ','
                    << csv_field(class_name(labels[n])) << ',' << csv_field(class_name(best[0].first));
        for (const auto& [c, p] : best) predictions << ',' << csv_field(class_name(c) + ":" + std::to_string(p));
        predictions << "\n";
      }
      seen += batch.labels.numel();
    }
    if (predictions.is_open()) {
      predictions.close();
      INTRAIN_CHECK(!predictions.fail(), "--predictions: writing '", predictions_path, "' failed");
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
    const double accuracy = static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(1, seen));
    const double accuracy5 = static_cast<double>(correct5) / static_cast<double>(std::max<int64_t>(1, seen));
    const bool has_top5 = outputs > kTopK;
    if (json) {
      nlohmann::json out = {{"program", program_path}, {"dataset", dataset}, {"split", "test"}, {"images", seen},
                            {"input_shape", input}, {"top1_accuracy", accuracy}, {"kernels", executor.kernels_name()},
                            {"threads", num_threads()}, {"pixels", pixels},
                            {"batch_size", batch_size}, {"images_per_second", static_cast<double>(seen) / busy},
                            {"peak_memory_mib", peak_memory_mib()}};
      if (has_top5) out["top5_accuracy"] = accuracy5;
      if (!latencies.empty()) out["latency_ms"] = {{"p50", pct(0.5)}, {"p99", pct(0.99)}};
      if (!predictions_path.empty()) out["predictions_file"] = predictions_path;
      std::printf("%s\n", out.dump().c_str());
    } else {
      std::printf("%s on %s test: top-1 accuracy %.2f%%", program_path.c_str(), dataset.c_str(), 100.0 * accuracy);
      if (has_top5) std::printf(", top-5 %.2f%%", 100.0 * accuracy5);
      std::printf(" (%lld images)\n", static_cast<long long>(seen));
      std::printf("kernels: %s; %d threads; input: %s\n", executor.kernels_name(), num_threads(),
                  pixels ? "raw 8-bit pixels through the program's pixel table" : "normalized float images");
      std::printf("batch %lld: %.0f images/s\n", static_cast<long long>(batch_size), static_cast<double>(seen) / busy);
      if (!latencies.empty()) std::printf("batch 1 latency: p50 %.3f ms, p99 %.3f ms\n", pct(0.5), pct(0.99));
      std::printf("peak memory: %.0f MiB\n", peak_memory_mib());
      if (!predictions_path.empty()) std::printf("predictions: %s\n", predictions_path.c_str());
    }
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
