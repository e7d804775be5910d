// Elementwise and reduction kernels, the batch-norm kernels and the fake-quant kernels of
// quant/kernels/: the scalar reference vs AVX2 vs AVX-512, in GB/s (bytes read + written),
// on an L2-resident and a memory-resident length (batch norm: NCHW tensors, every channel). `mul` (two streams in, one out) is the memory speed the
// fake-quant backward kernels (gradient and input in, gradient out) compare with.
#include <vector>

#include "bench/bench_util.hpp"
#include "core/generator.hpp"
#include "core/kernels/batch_norm.hpp"
#include "core/kernels/elementwise.hpp"
#include "core/tensor.hpp"
#include "quant/kernels/fake_quant_kernels.hpp"

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

enum class FakeQuant { affine, affine_backward, lsq, lsq_backward, pact, pact_backward };
const char* fake_quant_name(FakeQuant k) {
  switch (k) {
    case FakeQuant::affine: return "affine";
    case FakeQuant::affine_backward: return "affine_backward";
    case FakeQuant::lsq: return "lsq";
    case FakeQuant::lsq_backward: return "lsq_backward";
    case FakeQuant::pact: return "pact";
    case FakeQuant::pact_backward: return "pact_backward";
  }
  return "?";
}

void BM_fake_quant(benchmark::State& state, const quant::kernels::FakeQuantKernels* table, FakeQuant kernel, int64_t n) {
  Generator g(1);
  Tensor x = Tensor::randn({n}, g), grad = Tensor::randn({n}, g), out = Tensor::empty({n});
  const float *px = x.data<float>(), *pg = grad.data<float>();
  float* po = out.data<float>();
  const quant::kernels::AffineGrid affine{0.02f, 3.0f, 0.0f, 15.0f};
  const quant::kernels::LsqGrid lsq{0.02f, -7.0f, 7.0f};
  const quant::kernels::PactGrid pact{1.5f, 0.1f};
  const double bytes = (kernel == FakeQuant::affine || kernel == FakeQuant::lsq || kernel == FakeQuant::pact ? 8.0 : 12.0) * n;
  bench::LoopTimer timer;
  for (auto _ : state) {
    switch (kernel) {
      case FakeQuant::affine: table->affine(px, po, n, affine); break;
      case FakeQuant::affine_backward: table->affine_backward(pg, px, po, n, affine); break;
      case FakeQuant::lsq: table->lsq(px, po, n, lsq); break;
      case FakeQuant::lsq_backward: benchmark::DoNotOptimize(table->lsq_backward(pg, px, po, n, lsq)); break;
      case FakeQuant::pact: table->pact(px, po, n, pact); break;
      case FakeQuant::pact_backward: benchmark::DoNotOptimize(table->pact_backward(pg, px, po, n, pact)); break;
    }
    benchmark::ClobberMemory();
  }
  bench::report_gbytes(state, timer, bytes);
  state.counters["Gelem/s"] = static_cast<double>(n) * static_cast<double>(state.iterations()) / timer.seconds() / 1e9;
}

int register_fake_quant() {
  std::vector<const quant::kernels::FakeQuantKernels*> tables = {&quant::kernels::reference_fake_quant()};
  if (detected_isa() >= Isa::avx2) tables.push_back(&quant::kernels::avx2_fake_quant());
  if (detected_isa() >= Isa::avx512) tables.push_back(&quant::kernels::avx512_fake_quant());
  for (FakeQuant k : {FakeQuant::affine, FakeQuant::affine_backward, FakeQuant::lsq, FakeQuant::lsq_backward,
                      FakeQuant::pact, FakeQuant::pact_backward})
    for (int64_t n : {int64_t{1} << 14, int64_t{1} << 22})
      for (const auto* t : tables) {
        const std::string name = std::string("fake_quant/") + fake_quant_name(k) + "/" + std::to_string(n) + "/" +
                                 isa_name(t->isa);
        benchmark::RegisterBenchmark(name.c_str(), BM_fake_quant, t, k, n);
      }
  return 0;
}

enum class BatchNormKernel { sum, square_sum, affine, grad_sums, grad_input };
const char* batch_norm_name(BatchNormKernel k) {
  switch (k) {
    case BatchNormKernel::sum: return "sum";
    case BatchNormKernel::square_sum: return "square_sum";
    case BatchNormKernel::affine: return "affine";
    case BatchNormKernel::grad_sums: return "grad_sums";
    case BatchNormKernel::grad_input: return "grad_input";
  }
  return "?";
}

// One kernel over every channel of an [n, c, hw] tensor in turn, one thread.
void BM_batch_norm(benchmark::State& state, const BatchNormKernels* table, BatchNormKernel kernel, int64_t n,
                   int64_t c, int64_t hw) {
  Generator g(1);
  Tensor x = Tensor::randn({n, c, hw}, g), grad = Tensor::randn({n, c, hw}, g), out = Tensor::empty({n, c, hw});
  const float *px = x.data<float>(), *pg = grad.data<float>();
  float* po = out.data<float>();
  const ChannelRuns runs{n, hw, c * hw};
  const double per_value = kernel == BatchNormKernel::sum || kernel == BatchNormKernel::square_sum ? 4.0
                           : kernel == BatchNormKernel::grad_input                                 ? 12.0
                                                                                                   : 8.0;
  double sink = 0, a = 0, b = 0;
  bench::LoopTimer timer;
  for (auto _ : state) {
    for (int64_t ch = 0; ch < c; ++ch) {
      const int64_t at = ch * hw;
      switch (kernel) {
        case BatchNormKernel::sum: sink += table->sum(px + at, runs); break;
        case BatchNormKernel::square_sum: sink += table->square_sum(px + at, runs, 0.1f); break;
        case BatchNormKernel::affine: table->affine(px + at, runs, 0.9f, 0.1f, 0.0f, 6.0f, po + at); break;
        case BatchNormKernel::grad_sums: table->grad_sums(pg + at, px + at, {}, runs, 0.1f, &a, &b); sink += a + b; break;
        case BatchNormKernel::grad_input: table->grad_input(pg + at, px + at, {}, runs, 0.1f, 0.9f, -0.2f, 0.01f, po + at); break;
      }
    }
    benchmark::DoNotOptimize(sink);
    benchmark::ClobberMemory();
  }
  bench::report_gbytes(state, timer, per_value * static_cast<double>(x.numel()));
}

int register_batch_norm() {
  std::vector<const BatchNormKernels*> tables = {&reference_batch_norm()};
  if (detected_isa() >= Isa::avx2) tables.push_back(&avx2_batch_norm());
  if (detected_isa() >= Isa::avx512) tables.push_back(&avx512_batch_norm());
  // MobileNetV1-0.75's training shapes at 32x32, batch 128 (its first and last blocks) and
  // a cache-resident one.
  const int64_t shapes[][3] = {{16, 24, 1024}, {128, 48, 1024}, {128, 768, 4}};
  for (BatchNormKernel k : {BatchNormKernel::sum, BatchNormKernel::square_sum, BatchNormKernel::affine,
                            BatchNormKernel::grad_sums, BatchNormKernel::grad_input})
    for (const auto& shape : shapes)
      for (const BatchNormKernels* t : tables) {
        const std::string name = std::string("batch_norm/") + batch_norm_name(k) + "/" + std::to_string(shape[0]) +
                                 "x" + std::to_string(shape[1]) + "x" + std::to_string(shape[2]) + "/" + isa_name(t->isa);
        benchmark::RegisterBenchmark(name.c_str(), BM_batch_norm, t, k, shape[0], shape[1], shape[2]);
      }
  return 0;
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
const int registered_fake_quant = register_fake_quant();
const int registered_batch_norm = register_batch_norm();

}  // namespace

BENCHMARK_MAIN();
