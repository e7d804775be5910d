// MobileNet and ResNet-18 inference at 224x224: the float engine (eval mode, no autograd; as built and with
// batch norm and activations fused into the convolutions) against the int8
// executor running the same network after PTQ (W8A8, min-max, calibrated on the sample photos
// when ../shared/data/imagenet-sample is there, else on random images). Batch 1 latency
// (best round's mean) and batch 16 throughput. Random weights: speed does not depend on them.
// bench/pytorch_mobilenet.py measures PyTorch's float and quantized engines the same way.
//   build/bench/infer_mobilenet [--model SPEC]... [--photos DIR] [--rounds N]
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>

#include "bench/random_images.hpp"
#include "bench/timing.hpp"
#include "core/autograd.hpp"
#include "core/threads.hpp"
#include "data/image_folder.hpp"
#include "data/image_transforms.hpp"
#include "data/loader.hpp"
#include "int8/executor.hpp"
#include "int8/profile.hpp"
#include "models/registry.hpp"
#include "nn/fuse.hpp"
#include "quant/convert.hpp"
#include "quant/prepare.hpp"

using namespace intrain;

namespace {


void bench_model(const std::string& spec, const data::DatasetPtr& photos, const std::string& engines, bool profile,
                 int64_t profile_batch, int rounds) {
  Generator gen(1);
  nn::ModulePtr model = models::make_model(spec, gen);
  {
    NoGradGuard no_grad;  // batch-norm statistics of real activations, as training leaves them
    model->train();
    (*model)(Tensor::randn({4, 3, 224, 224}, gen));
  }
  model->eval();
  Tensor batch16 = Tensor::randn({16, 3, 224, 224}, gen), batch1 = Tensor::randn({1, 3, 224, 224}, gen);
  NoGradGuard no_grad;
  std::printf("%s at 224x224, %d threads\n", spec.c_str(), num_threads());
  if (engines != "int8") {
    const double float1 = bench::time_per_call([&] { (*model)(batch1); }, 10, rounds);
    const double float16 = bench::time_per_call([&] { (*model)(batch16); }, 2, rounds);
    std::printf("  float: batch 1 %.2f ms, batch 16 %.0f images/s\n", 1e3 * float1, 16 / float16);
    // The same weights with batch norm and activations fused into the convolutions.
    nn::ModulePtr fused = models::make_model(spec, gen);
    fused->load_state_dict(model->state_dict());
    fused->eval();
    const int64_t convs = nn::fuse_for_inference(*fused);
    const double fused1 = bench::time_per_call([&] { (*fused)(batch1); }, 10, rounds);
    const double fused16 = bench::time_per_call([&] { (*fused)(batch16); }, 2, rounds);
    std::printf("  float, %lld convolutions fused (nn::fuse_for_inference): batch 1 %.2f ms, batch 16 %.0f images/s\n",
                static_cast<long long>(convs), 1e3 * fused1, 16 / fused16);
  }
  if (engines == "float") return;

  quant::prepare_ptq(*model, quant::preset("w8a8"));
  data::DataLoader loader(photos, {16, false, 0, false, 2, 2});
  quant::calibrate(*model, loader, 2);
  const int8::Executor executor(quant::convert(*model, {3, 224, 224}, spec));
  const double int16 = bench::time_per_call([&] { executor.run(batch16); }, 4, rounds);
  const double int1 = bench::time_per_call([&] { executor.run(batch1); }, 20, rounds);

  std::printf("  int8 (%s): batch 1 %.2f ms, batch 16 %.0f images/s\n", executor.kernels_name(),
              1e3 * int1, 16 / int16);
  if (profile) int8::print_profile(executor, profile_batch);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"MobileNet and ResNet-18 inference at 224x224: float engine vs int8 executor"};
  std::vector<std::string> specs{"mobilenet_v1:width=0.75", "mobilenet_v2", "resnet18"};
  std::string engines = "both", photos_dir = "../shared/data/imagenet-sample";
  app.add_option("--model", specs, "model specifications")->capture_default_str();
  app.add_option("--photos", photos_dir, "ImageFolder to calibrate on")->capture_default_str();
  app.add_option("--engine", engines, "float, int8 or both")->check(CLI::IsMember({"float", "int8", "both"}))->capture_default_str();
  bool profile = false;
  int64_t profile_batch = 1;
  app.add_flag("--profile", profile, "per-op times of the int8 program (best of 20 runs per op)");
  app.add_option("--profile-batch", profile_batch, "the batch --profile runs")->check(CLI::Range(1, 64))->capture_default_str();
  int rounds = 3;
  app.add_option("--rounds", rounds, "timed rounds per figure, the best one reported (more on a noisy machine)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    data::DatasetPtr photos;
    if (std::filesystem::is_directory(photos_dir)) {
      photos = std::make_shared<data::ImageFolder>(photos_dir, data::imagenet_eval(), Shape{3, 224, 224});
      std::printf("calibrating on %s\n", photos_dir.c_str());
    } else {
      photos = std::make_shared<bench::RandomImages>(Shape{3, 224, 224}, 32, 1000);  // stand-ins for the photos
      std::printf("%s not found: calibrating on random images\n", photos_dir.c_str());
    }
    for (const std::string& spec : specs) bench_model(spec, photos, engines, profile, profile_batch, rounds);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "infer_mobilenet: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
