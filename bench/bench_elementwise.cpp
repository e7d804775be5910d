// Elementwise and reduction kernels: the scalar reference vs AVX2 vs AVX-512, in GB/s
// (bytes read + written), on an L2-resident and a memory-resident length.
#include <vector>

#include "bench/bench_util.hpp"
#include "core/generator.hpp"
#include "core/kernels/elementwise.hpp"
#include "core/tensor.hpp"

using namespace intrain;
using namespace intrain::kernels;

namespace {

enum class Kernel { add, mul, relu, exp, tanh, sigmoid, sum };
const char* kernel_name(Kernel k) {
  switch (k) {
    case Kernel::add: return "add";
    case Kernel::mul: return "mul";
    case Kernel::relu: return "relu";
    case Kernel::exp: return "exp";
    case Kernel::tanh: return "tanh";
    case Kernel::sigmoid: return "sigmoid";
    case Kernel::sum: return "sum";
  }
  return "?";
}

void BM_elementwise(benchmark::State& state, const ElementwiseKernels* table, Kernel kernel, int64_t n) {
  Generator g(1);
  Tensor a = Tensor::randn({n}, g), b = Tensor::randn({n}, g), out = Tensor::empty({n});
  const float *pa = a.data<float>(), *pb = b.data<float>();
  float* po = out.data<float>();
  double bytes = 0;
  bench::LoopTimer timer;
  for (auto _ : state) {
    switch (kernel) {
      case Kernel::add: table->binary(BinaryOp::add, pa, pb, po, n); bytes = 12.0 * n; break;
      case Kernel::mul: table->binary(BinaryOp::mul, pa, pb, po, n); bytes = 12.0 * n; break;
      case Kernel::relu: table->unary(UnaryOp::relu, pa, po, n); bytes = 8.0 * n; break;
      case Kernel::exp: table->unary(UnaryOp::exp, pa, po, n); bytes = 8.0 * n; break;
      case Kernel::tanh: table->unary(UnaryOp::tanh, pa, po, n); bytes = 8.0 * n; break;
      case Kernel::sigmoid: table->unary(UnaryOp::sigmoid, pa, po, n); bytes = 8.0 * n; break;
      case Kernel::sum: benchmark::DoNotOptimize(table->sum(pa, n)); bytes = 4.0 * n; break;
    }
    benchmark::ClobberMemory();
  }
  bench::report_gbytes(state, timer, bytes);
  state.counters["Gelem/s"] = static_cast<double>(n) * static_cast<double>(state.iterations()) / timer.seconds() / 1e9;
}

int register_all() {
  std::vector<const ElementwiseKernels*> tables = {&reference_elementwise()};
  if (detected_isa() >= Isa::avx2) tables.push_back(&avx2_elementwise());
  if (detected_isa() >= Isa::avx512) tables.push_back(&avx512_elementwise());
  for (Kernel k : {Kernel::add, Kernel::mul, Kernel::relu, Kernel::exp, Kernel::tanh, Kernel::sigmoid, Kernel::sum})
    for (int64_t n : {int64_t{1} << 14, int64_t{1} << 22})
      for (const ElementwiseKernels* t : tables) {
        const std::string name = std::string("elementwise/") + kernel_name(k) + "/" + std::to_string(n) + "/" +
                                 isa_name(t->isa);
        benchmark::RegisterBenchmark(name.c_str(), BM_elementwise, t, k, n);
      }
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
