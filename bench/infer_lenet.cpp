// Inference speed, float against int8, on the same images: a float checkpoint run by the
// training engine (eval mode, no autograd) and an int8 program run by the executor, at
// batch 64 (images/s) and batch 1 (median latency). bench/pytorch_int8_lenet.py measures
// PyTorch's float and quantized engines the same way.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "bench/timing.hpp"
#include "core/autograd.hpp"
#include "core/threads.hpp"
#include "int8/executor.hpp"
#include "int8/profile.hpp"
#include "models/registry.hpp"
#include "train/checkpoint.hpp"

using namespace intrain;

int main(int argc, char** argv) {
  CLI::App app{"LeNet inference: float engine vs int8 executor"};
  std::string model_name = "lenet", checkpoint = "runs/lenet/best.safetensors", program_path = "runs/lenet.int8";
  app.add_option("--model", model_name)->capture_default_str();
  app.add_option("--checkpoint", checkpoint, "float checkpoint")->capture_default_str();
  app.add_option("--program", program_path, "int8 program of the same model")->capture_default_str();
  bool profile = false;
  app.add_flag("--profile", profile, "per-op times of the int8 program at batch 64");
  CLI11_PARSE(app, argc, argv);
  try {
    nn::ModulePtr model = models::make_model(model_name);
    train::load_checkpoint(checkpoint, *model);
    model->eval();
    const int8::Executor executor(int8::load_program(program_path));
    const Shape in = executor.program().input_shape;
    Generator gen(1);
    Tensor batch64 = Tensor::randn({64, in[0], in[1], in[2]}, gen), batch1 = Tensor::randn({1, in[0], in[1], in[2]}, gen);
    NoGradGuard no_grad;
    const double float64 = bench::time_per_call([&] { (*model)(batch64); }, 20, 5);
    const double int64 = bench::time_per_call([&] { executor.run(batch64); }, 20, 5);
    const double float1 = bench::time_per_call([&] { (*model)(batch1); }, 200, 5);
    const double int1 = bench::time_per_call([&] { executor.run(batch1); }, 200, 5);
    std::printf("%s inference, %d threads, int8 kernels: %s\n", model_name.c_str(), num_threads(),
                executor.kernels_name());
    std::printf("batch 64: float %.0f images/s, int8 %.0f images/s (int8/float %.2fx)\n", 64 / float64, 64 / int64,
                float64 / int64);
    std::printf("batch 1:  float %.3f ms, int8 %.3f ms (int8/float %.2fx)\n", 1e3 * float1, 1e3 * int1, float1 / int1);
    if (profile) int8::print_profile(executor, 64);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "infer_lenet: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
