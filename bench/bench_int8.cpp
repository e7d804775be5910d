// int8 kernels, one thread: the executor's GEMM (VNNI and AVX2, codes out with the fused
// requantization, or raw int32) against oneDNN's u8·s8→s32 GEMM and the scalar reference,
// on the shapes of MobileNetV1-0.75's pointwise layers at 224x224 and LeNet's classifier;
// the NHWC depthwise kernels (AVX-512, AVX2) and per-channel requantization against their
// references.
// GOP/s counts 2 operations per multiply-add.
#include <oneapi/dnnl/dnnl.h>

#include <vector>

#include "bench/bench_util.hpp"
#include "core/generator.hpp"
#include "core/threads.hpp"
#include "int8/kernels.hpp"
#include "int8/requantize.hpp"

using namespace intrain;
using namespace intrain::int8;

namespace {

struct GemmCase {
  const char* name;
  int64_t rows, k, out;
};

const std::vector<GemmCase> kGemms = {
    {"pw_112x112_24to48", 12544, 24, 48}, {"pw_56x56_96to96", 3136, 96, 96},   {"pw_28x28_192to192", 784, 192, 192},
    {"pw_14x14_384to384", 196, 384, 384}, {"pw_7x7_768to768", 49, 768, 768},   {"lenet_fc1_b64", 64, 800, 500},
};

enum class Kernel { vnni, avx2, reference, onednn };

struct Operands {
  std::vector<uint8_t> x;
  std::vector<int8_t> w;
  std::vector<int32_t> bias, multiplier, shift, acc;
  std::vector<uint8_t> codes;
  PackedWeights packed;
};

Operands make_operands(const GemmCase& c) {
  Generator g(1);
  Operands o;
  o.x.resize(static_cast<size_t>(c.rows * c.k));
  o.w.resize(static_cast<size_t>(c.out * c.k));
  for (auto& v : o.x) v = static_cast<uint8_t>(g.next_u64());
  for (auto& v : o.w) v = static_cast<int8_t>(static_cast<int>(g.next_u64() % 255) - 127);
  o.bias.assign(static_cast<size_t>(c.out), 100);
  const FixedPointMultiplier m = quantize_multiplier(0.0007);
  o.multiplier.assign(static_cast<size_t>(c.out), m.multiplier);
  o.shift.assign(static_cast<size_t>(c.out), m.shift);
  o.acc.resize(static_cast<size_t>(c.rows * c.out));
  o.codes.resize(o.acc.size());
  o.packed = pack_weights(o.w.data(), c.out, c.k, o.bias.data(), 7);
  return o;
}

void BM_int8_gemm(benchmark::State& state, GemmCase c, Kernel kernel, bool requantize) {
  if ((kernel == Kernel::vnni && !vnni_available()) || (kernel == Kernel::avx2 && !avx2_available())) {
    state.SkipWithError("not available on this CPU");
    return;
  }
  set_num_threads(1);
  Operands o = make_operands(c);
  GemmOutput to;
  to.ld = c.out;
  if (requantize) {
    to.codes = o.codes.data();
    to.requant = {o.multiplier.data(), o.shift.data(), 5, 5, 255};
  } else {
    to.acc = o.acc.data();
  }
  const int32_t zero = 0;
  auto run = [&] {
    switch (kernel) {
      case Kernel::vnni:
      case Kernel::avx2:
        (kernel == Kernel::vnni ? gemm_vnni : gemm_avx2)(o.x.data(), c.rows, c.k, o.packed.k_padded, c.out,
                                                         o.packed.data.data(), o.packed.bias.data(), 0, c.out, to);
        break;
      case Kernel::reference:
        linear_acc_reference(c.rows, c.k, c.out, o.x.data(), 7, o.w.data(), o.bias.data(), o.acc.data());
        break;
      case Kernel::onednn:  // C = (A − 7)·Bᵀ, row-major: x [rows][k], w [out][k]
        dnnl_gemm_u8s8s32('N', 'T', 'F', c.rows, c.out, c.k, 1.0f, o.x.data(), c.k, 7, o.w.data(), c.k, 0, 0.0f,
                          o.acc.data(), c.out, &zero);
        break;
    }
  };
  run();
  bench::LoopTimer timer;
  for (auto _ : state) {
    run();
    benchmark::ClobberMemory();
  }
  state.counters["GOP/s"] = 2.0 * static_cast<double>(c.rows * c.k * c.out) * static_cast<double>(state.iterations()) /
                            timer.seconds() / 1e9;
}

void BM_depthwise(benchmark::State& state, int64_t size, int64_t channels, int64_t stride, Kernel which) {
  if ((which == Kernel::vnni && !vnni_available()) || (which == Kernel::avx2 && !avx2_available())) {
    state.SkipWithError("not available on this CPU");
    return;
  }
  Generator g(2);
  std::vector<uint8_t> x(static_cast<size_t>(size * size * channels));
  for (auto& v : x) v = static_cast<uint8_t>(g.next_u64());
  std::vector<int32_t> w(static_cast<size_t>(9 * channels), 3), bias(static_cast<size_t>(channels), 10);
  const FixedPointMultiplier m = quantize_multiplier(0.003);
  std::vector<int32_t> mult(static_cast<size_t>(channels), m.multiplier), shift(static_cast<size_t>(channels), m.shift);
  const ChannelRequant rq{mult.data(), shift.data(), 3, 3, 255};
  const int64_t out = (size + 2 - 3) / stride + 1;
  std::vector<uint8_t> y(static_cast<size_t>(out * out * channels));
  const auto kernel = which == Kernel::vnni ? depthwise_nhwc_avx512
                      : which == Kernel::avx2 ? depthwise_nhwc_avx2
                                              : depthwise_nhwc_reference;
  bench::LoopTimer timer;
  for (auto _ : state) {
    kernel(x.data(), size, size, channels, 3, stride, 1, out, 0, out, 9, w.data(), bias.data(), rq, y.data());
    benchmark::ClobberMemory();
  }
  state.counters["GOP/s"] =
      2.0 * static_cast<double>(out * out * channels * 9) * static_cast<double>(state.iterations()) / timer.seconds() / 1e9;
}

void BM_requantize(benchmark::State& state, bool fast) {
  if (fast && !vnni_available()) {
    state.SkipWithError("no AVX-512 on this CPU");
    return;
  }
  constexpr int64_t kChannels = 384, kPixels = 196;
  Generator g(3);
  std::vector<int32_t> acc(static_cast<size_t>(kChannels * kPixels));
  for (auto& v : acc) v = static_cast<int32_t>(g.next_u64() % 200001) - 100000;
  const FixedPointMultiplier m = quantize_multiplier(0.0007);
  std::vector<int32_t> mult(kChannels, m.multiplier), shift(kChannels, m.shift);
  const ChannelRequant rq{mult.data(), shift.data(), 3, 3, 255};
  std::vector<uint8_t> out(acc.size());
  const auto kernel = fast ? requantize_channels_avx512 : requantize_channels_reference;
  bench::LoopTimer timer;
  for (auto _ : state) {
    for (int64_t p = 0; p < kPixels; ++p) kernel(acc.data() + p * kChannels, kChannels, rq, out.data() + p * kChannels);
    benchmark::ClobberMemory();
  }
  state.counters["Gvalues/s"] = static_cast<double>(acc.size()) * static_cast<double>(state.iterations()) / timer.seconds() / 1e9;
}

int register_all() {
  for (const GemmCase& c : kGemms) {
    const std::string base = std::string("int8_gemm/") + c.name;
    benchmark::RegisterBenchmark((base + "/vnni_codes").c_str(), BM_int8_gemm, c, Kernel::vnni, true);
    benchmark::RegisterBenchmark((base + "/vnni_int32").c_str(), BM_int8_gemm, c, Kernel::vnni, false);
    benchmark::RegisterBenchmark((base + "/onednn_int32").c_str(), BM_int8_gemm, c, Kernel::onednn, false);
    benchmark::RegisterBenchmark((base + "/avx2_codes").c_str(), BM_int8_gemm, c, Kernel::avx2, true);
    benchmark::RegisterBenchmark((base + "/reference_int32").c_str(), BM_int8_gemm, c, Kernel::reference, false);
  }
  for (const auto& [which, suffix] : {std::pair{Kernel::vnni, "/avx512"}, std::pair{Kernel::avx2, "/avx2"},
                                      std::pair{Kernel::reference, "/reference"}}) {
    const std::string tail = suffix;
    benchmark::RegisterBenchmark(("depthwise3x3/112x112x24" + tail).c_str(), BM_depthwise, 112, 24, 1, which);
    benchmark::RegisterBenchmark(("depthwise3x3/56x56x96" + tail).c_str(), BM_depthwise, 56, 96, 1, which);
    benchmark::RegisterBenchmark(("depthwise3x3/14x14x384" + tail).c_str(), BM_depthwise, 14, 384, 1, which);
    benchmark::RegisterBenchmark(("depthwise3x3/28x28x192_s2" + tail).c_str(), BM_depthwise, 28, 192, 2, which);
  }
  for (const bool fast : {true, false})
    benchmark::RegisterBenchmark(fast ? "requantize/384x196/avx512" : "requantize/384x196/reference", BM_requantize, fast);
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
