// int8 inference on a busy machine: LeNet (W8A8 PTQ on random images; speed does not depend
// on the weights) at the default thread count, quiet, then with competing processes that
// spin on the cores, batch 1 latency (median of many) and batch 64 throughput. A runtime
// whose workers spin at barriers, or that waits for a descheduled thread, collapses here
// (the roadmap saw 0.024 → 16.7 ms); the ratio busy / quiet should stay near what the lost
// core share explains.
//   build/bench/busy_machine [--competitors N]
#include <CLI/CLI.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "bench/random_images.hpp"
#include "core/autograd.hpp"
#include "core/threads.hpp"
#include "data/loader.hpp"
#include "int8/executor.hpp"
#include "models/registry.hpp"
#include "quant/convert.hpp"
#include "quant/prepare.hpp"

using namespace intrain;

namespace {

double median_ms(const int8::Executor& e, const Tensor& x, int calls) {
  std::vector<double> ms;
  for (int i = 0; i < calls; ++i) {
    const auto start = std::chrono::steady_clock::now();
    e.run(x);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::nth_element(ms.begin(), ms.begin() + calls / 2, ms.end());
  return ms[static_cast<size_t>(calls / 2)];
}

double images_per_second(const int8::Executor& e, const Tensor& x, int calls) {
  e.run(x);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i) e.run(x);
  return x.size(0) * calls / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Child processes that spin until killed: other tenants of the machine.
std::vector<pid_t> start_competitors(int n) {
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    const pid_t pid = fork();
    if (pid == 0) {
      volatile uint64_t x = 0;
      for (;;) x = x + 1;
    }
    pids.push_back(pid);
  }
  return pids;
}

void stop(const std::vector<pid_t>& pids) {
  for (pid_t p : pids) kill(p, SIGKILL);
  for (pid_t p : pids) waitpid(p, nullptr, 0);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"int8 LeNet latency and throughput, quiet and with competing processes"};
  int competitors = 1;
  app.add_option("--competitors", competitors, "spinning processes while measuring busy")->capture_default_str()
      ->check(CLI::Range(1, 64));
  CLI11_PARSE(app, argc, argv);
  Generator gen(1);
  nn::ModulePtr model = models::make_model("lenet", gen);
  model->eval();
  quant::prepare_ptq(*model, quant::preset("w8a8"));
  data::DataLoader loader(std::make_shared<bench::RandomImages>(Shape{1, 28, 28}, 256, 10), {64, false, 0, false, 0, 1});
  quant::calibrate(*model, loader, 4);
  const int8::Executor executor(quant::convert(*model, {1, 28, 28}, "lenet"));
  const Tensor one = Tensor::randn({1, 1, 28, 28}, gen), batch = Tensor::randn({64, 1, 28, 28}, gen);
  median_ms(executor, one, 200);  // warm-up
  const double quiet1 = median_ms(executor, one, 2000), quiet64 = images_per_second(executor, batch, 300);
  const std::vector<pid_t> pids = start_competitors(competitors);
  usleep(200000);
  const double busy1 = median_ms(executor, one, 500), busy64 = images_per_second(executor, batch, 100);
  stop(pids);
  std::printf("LeNet int8 (%s), %d threads, %d competing process(es)\n", executor.kernels_name(), num_threads(),
              competitors);
  std::printf("  batch 1:  quiet %.4f ms, busy %.4f ms (%.1fx)\n", quiet1, busy1, busy1 / quiet1);
  std::printf("  batch 64: quiet %.0f images/s, busy %.0f images/s (%.2fx)\n", quiet64, busy64, busy64 / quiet64);
  return 0;
}
