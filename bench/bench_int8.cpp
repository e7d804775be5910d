// int8 kernels, one thread, for every kernel table this CPU runs (int8/kernel_table.hpp):
// the GEMM (codes out with the fused requantization, or raw int32) against oneDNN's
// u8·s8→s32 GEMM, oneDNN's int8 convolution (NHWC, int32 out: the other way to reach AMX)
// and the scalar reference, on the shapes of MobileNetV1-0.75's pointwise layers at 224x224,
// ResNet-18's 3x3 convolutions as im2col GEMMs and LeNet's classifier; the NHWC depthwise
// kernels, per-channel requantization and residual additions against their references.
// GOP/s counts 2 operations per multiply-add; peak% is against the table's int8 unit
// (bench_peak: vpdpbusd for vnni, TDPBUSD tiles for amx), one core.
#include <oneapi/dnnl/dnnl.h>

#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

#include "bench/bench_util.hpp"
#include "core/generator.hpp"
#include "core/threads.hpp"
#include "int8/kernel_table.hpp"
#include "int8/requantize.hpp"

using namespace intrain;
using namespace intrain::int8;

namespace {

struct GemmCase {
  const char* name;
  int64_t rows, k, out;
};

const std::vector<GemmCase> kGemms = {
    {"pw_112x112_24to48", 12544, 24, 48},    {"pw_56x56_96to96", 3136, 96, 96},
    {"pw_28x28_192to192", 784, 192, 192},    {"pw_14x14_384to384", 196, 384, 384},
    {"pw_7x7_768to768", 49, 768, 768},       {"r18_3x3_56x56_64to64", 3136, 576, 64},
    {"r18_3x3_14x14_256to256", 196, 2304, 256}, {"lenet_fc1_b64", 64, 800, 500},
    // MobileNetV2's narrow inputs (expansions from 16, 24 and 32 channels).
    {"v2_112x112_16to96", 12544, 16, 96},    {"v2_56x56_24to144", 3136, 24, 144},
    {"v2_28x28_32to192", 784, 32, 192},      {"v2_14x14_64to384", 196, 64, 384},
    // Operands that stay in L1 (the kernel's own ceiling) and a long K (ResNet's last stage at batch 16).
    {"l1_64x512x64", 64, 512, 64},           {"r18_3x3_7x7x16_512to512", 784, 4608, 512},
    // The stems: ResNet-18's 7x7/2 and the MobileNets' 3x3/2 on 3 channels, as im2col GEMMs.
    {"r18_stem_7x7_3to64", 12544, 147, 64},   {"mb_stem_3x3_3to32", 12544, 27, 32},
};

struct Operands {
  std::vector<uint8_t> x;
  std::vector<int8_t> w;
  std::vector<int32_t> bias, multiplier, shift, acc;
  std::vector<uint8_t> codes;
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
  return o;
}

void report_gops(benchmark::State& state, const bench::LoopTimer& timer, double ops, const char* unit) {
  const double gops = ops * static_cast<double>(state.iterations()) / timer.seconds() / 1e9;
  state.counters["GOP/s"] = gops;
  const double peak = unit ? bench::peak_int8_gops_per_core(unit) : 0.0;
  if (peak > 0) state.counters["peak%"] = 100.0 * gops / peak;
}

void BM_table_gemm(benchmark::State& state, GemmCase c, const KernelTable* table, bool requantize) {
  set_num_threads(1);
  Operands o = make_operands(c);
  const PackedWeights packed = table->pack(o.w.data(), c.out, c.k, o.bias.data(), 7);
  // Rows of k_padded bytes, as the executor hands them over.
  std::vector<uint8_t> x(static_cast<size_t>(c.rows * packed.k_padded), 7);
  for (int64_t r = 0; r < c.rows; ++r) std::copy_n(o.x.data() + r * c.k, c.k, x.data() + r * packed.k_padded);
  GemmOutput to;
  to.ld = c.out;
  if (requantize) {
    to.codes = o.codes.data();
    to.requant = {o.multiplier.data(), o.shift.data(), 5, 5, 255};
    to.small_sums = packed.small_sums;
  } else {
    to.acc = o.acc.data();
  }
  auto run = [&] {
    table->gemm(x.data(), c.rows, packed.k_padded, packed.k_padded, c.out, packed.data.data(), packed.bias.data(), 0,
                c.out, to);
  };
  run();
  bench::LoopTimer timer;
  for (auto _ : state) {
    run();
    benchmark::ClobberMemory();
  }
  const std::string id = table->id;
  report_gops(state, timer, 2.0 * static_cast<double>(c.rows * c.k * c.out),
              id == "amx" ? "amx" : id == "vnni" ? "vnni" : id == "avx2" ? "avx2" : nullptr);
}

void BM_reference_gemm(benchmark::State& state, GemmCase c) {
  Operands o = make_operands(c);
  bench::LoopTimer timer;
  for (auto _ : state) {
    linear_acc_reference(c.rows, c.k, c.out, o.x.data(), 7, o.w.data(), o.bias.data(), o.acc.data());
    benchmark::ClobberMemory();
  }
  report_gops(state, timer, 2.0 * static_cast<double>(c.rows * c.k * c.out), nullptr);
}

void BM_onednn_gemm(benchmark::State& state, GemmCase c) {
  set_num_threads(1);
  Operands o = make_operands(c);
  const int32_t zero = 0;
  auto run = [&] {  // C = (A − 7)·Bᵀ, row-major: x [rows][k], w [out][k]
    dnnl_gemm_u8s8s32('N', 'T', 'F', c.rows, c.out, c.k, 1.0f, o.x.data(), c.k, 7, o.w.data(), c.k, 0, 0.0f,
                      o.acc.data(), c.out, &zero);
  };
  run();
  bench::LoopTimer timer;
  for (auto _ : state) {
    run();
    benchmark::ClobberMemory();
  }
  report_gops(state, timer, 2.0 * static_cast<double>(c.rows * c.k * c.out), "amx");
}

// oneDNN's int8 convolution, NHWC u8 in, s32 out, weights in the layout it picks (reordered
// once, outside the timing): what a convolution through oneDNN would cost before our
// requantization. 1x1 for the pointwise shapes, 3x3 for ResNet's (rows = output pixels).
void BM_onednn_conv(benchmark::State& state, GemmCase c, int64_t kernel, int64_t size) {
  using namespace dnnl;
  set_num_threads(1);
  const int64_t channels = c.k / (kernel * kernel), pad = kernel / 2;
  engine eng(engine::kind::cpu, 0);
  stream strm(eng);
  const memory::dims src_dims{1, channels, size, size}, w_dims{c.out, channels, kernel, kernel},
      dst_dims{1, c.out, size, size};
  const memory::desc src(src_dims, memory::data_type::u8, memory::format_tag::nhwc);
  const memory::desc dst(dst_dims, memory::data_type::s32, memory::format_tag::nhwc);
  const memory::desc w_any(w_dims, memory::data_type::s8, memory::format_tag::any);
  convolution_forward::desc desc(prop_kind::forward_inference, algorithm::convolution_direct, src, w_any, dst, {1, 1},
                                 {pad, pad}, {pad, pad});
  convolution_forward::primitive_desc pd(desc, eng);
  Operands o = make_operands({c.name, size * size, c.k, c.out});
  std::vector<uint8_t> x(static_cast<size_t>(size * size * channels), 3);
  memory src_m(src, eng, x.data()), dst_m(dst, eng, o.acc.data());
  memory w_plain({w_dims, memory::data_type::s8, memory::format_tag::oihw}, eng, o.w.data());
  memory w_m(pd.weights_desc(), eng);
  reorder(w_plain, w_m).execute(strm, w_plain, w_m);
  convolution_forward conv(pd);
  auto run = [&] {
    conv.execute(strm, {{DNNL_ARG_SRC, src_m}, {DNNL_ARG_WEIGHTS, w_m}, {DNNL_ARG_DST, dst_m}});
    strm.wait();
  };
  run();
  bench::LoopTimer timer;
  for (auto _ : state) {
    run();
    benchmark::ClobberMemory();
  }
  state.SetLabel(pd.impl_info_str());
  report_gops(state, timer, 2.0 * static_cast<double>(size * size * c.k * c.out), "amx");
}

// The NHWC im2col of the stems (224x224x3, zero point 3), one image, rows of the table's K alignment.
void BM_im2col(benchmark::State& state, int64_t kernel, const KernelTable* table) {
  constexpr int64_t kSize = 224, kChannels = 3;
  const int64_t pad = kernel / 2, out = (kSize + 2 * pad - kernel) / 2 + 1, k = kernel * kernel * kChannels;
  std::vector<int8_t> w(static_cast<size_t>(k));
  std::vector<int32_t> bias(1);
  const int64_t k_padded = table->pack(w.data(), 1, k, bias.data(), 0).k_padded;
  std::vector<uint8_t> x(static_cast<size_t>(kSize * kSize * kChannels), 9), rows(static_cast<size_t>(out * out * k_padded));
  bench::LoopTimer timer;
  for (auto _ : state) {
    im2col_nhwc(x.data(), kSize, kSize, kChannels, 0, kChannels, kernel, 2, pad, out, 0, out * out, 3, k_padded,
                rows.data());
    benchmark::ClobberMemory();
  }
  bench::report_gbytes(state, timer, static_cast<double>(rows.size()));
}

// A stem read in place (the table's gemm_segmented, as the executor runs a convolution over
// 3 channels): one GEMM per output row over the zero-padded 224x224x3 image, codes out.
// GOP/s counts the convolution's own multiply-adds, not the padding of each run to 4 bytes.
void BM_segmented_stem(benchmark::State& state, int64_t kernel, int64_t out_channels, const KernelTable* table) {
  set_num_threads(1);
  constexpr int64_t kSize = 224, kChannels = 3, kStride = 2;
  const int64_t pad = kernel / 2, out = (kSize + 2 * pad - kernel) / kStride + 1;
  const int64_t run = kernel * kChannels, bytes = (run + 3) / 4 * 4, row_bytes = (kSize + 2 * pad) * kChannels;
  Generator g(6);
  std::vector<uint8_t> image(static_cast<size_t>((kSize + 2 * pad) * row_bytes + bytes));
  for (auto& v : image) v = static_cast<uint8_t>(g.next_u64());
  std::vector<int8_t> w(static_cast<size_t>(out_channels * kernel * bytes));
  for (auto& v : w) v = static_cast<int8_t>(static_cast<int>(g.next_u64() % 255) - 127);
  std::vector<int32_t> bias(static_cast<size_t>(out_channels), 10);
  const FixedPointMultiplier m = quantize_multiplier(0.0005);
  std::vector<int32_t> mult(static_cast<size_t>(out_channels), m.multiplier), shift(mult.size(), m.shift);
  const PackedWeights packed = pack_weights_padded(w.data(), out_channels, kernel * bytes, kernel * bytes, bias.data(), 7);
  std::vector<uint8_t> y(static_cast<size_t>(out * out * out_channels));
  GemmOutput to;
  to.requant = {mult.data(), shift.data(), 5, 5, 255};
  to.ld = out_channels;
  to.small_sums = packed.small_sums;
  bench::LoopTimer timer;
  for (auto _ : state) {
    for (int64_t oy = 0; oy < out; ++oy) {
      to.codes = y.data() + oy * out * out_channels;
      table->gemm_segmented(image.data() + oy * kStride * row_bytes, out, kStride * kChannels,
                            {kernel, bytes, row_bytes}, out_channels, packed.data.data(), packed.bias.data(), 0,
                            out_channels, to);
    }
    benchmark::ClobberMemory();
  }
  report_gops(state, timer, 2.0 * static_cast<double>(out * out * out_channels * run * kernel), nullptr);
}

void BM_depthwise(benchmark::State& state, int64_t size, int64_t channels, int64_t stride, const KernelTable* table) {
  Generator g(2);
  std::vector<uint8_t> x(static_cast<size_t>(size * size * channels));
  for (auto& v : x) v = static_cast<uint8_t>(g.next_u64());
  std::vector<int32_t> w(static_cast<size_t>(9 * channels), 3), bias(static_cast<size_t>(channels), 10);
  const FixedPointMultiplier m = quantize_multiplier(0.003);
  std::vector<int32_t> mult(static_cast<size_t>(channels), m.multiplier), shift(static_cast<size_t>(channels), m.shift);
  const ChannelRequant rq{mult.data(), shift.data(), 3, 3, 255};
  const int64_t out = (size + 2 - 3) / stride + 1;
  std::vector<uint8_t> y(static_cast<size_t>(out * out * channels));
  // Prepared once, as the executor does when it loads a program.
  const std::shared_ptr<const void> prepared =
      table->prepare_depthwise ? table->prepare_depthwise(channels, 3, stride, 9, w.data(), bias.data(), rq) : nullptr;
  bench::LoopTimer timer;
  for (auto _ : state) {
    table->depthwise(x.data(), size, size, channels, 3, stride, 1, out, 0, out, 9, w.data(), bias.data(), rq,
                     prepared.get(), y.data());
    benchmark::ClobberMemory();
  }
  report_gops(state, timer, 2.0 * static_cast<double>(out * out * channels * 9), nullptr);
}

void BM_requantize(benchmark::State& state, const KernelTable* table) {
  constexpr int64_t kChannels = 384, kPixels = 196;
  Generator g(3);
  std::vector<int32_t> acc(static_cast<size_t>(kChannels * kPixels));
  for (auto& v : acc) v = static_cast<int32_t>(g.next_u64() % 200001) - 100000;
  const FixedPointMultiplier m = quantize_multiplier(0.0007);
  std::vector<int32_t> mult(kChannels, m.multiplier), shift(kChannels, m.shift);
  const ChannelRequant rq{mult.data(), shift.data(), 3, 3, 255};
  std::vector<uint8_t> out(acc.size());
  bench::LoopTimer timer;
  for (auto _ : state) {
    for (int64_t p = 0; p < kPixels; ++p)
      table->requantize(acc.data() + p * kChannels, kChannels, rq, out.data() + p * kChannels);
    benchmark::ClobberMemory();
  }
  state.counters["Gvalues/s"] = static_cast<double>(acc.size()) * static_cast<double>(state.iterations()) / timer.seconds() / 1e9;
}

// A residual addition of ResNet-18's first stage (56x56x64 codes), scales as the converter derives them.
void BM_add(benchmark::State& state, const KernelTable* table) {
  constexpr int64_t kCodes = 56 * 56 * 64;
  Generator g(4);
  std::vector<uint8_t> a(kCodes), b(kCodes), out(kCodes);
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<uint8_t>(g.next_u64());
    b[i] = static_cast<uint8_t>(g.next_u64());
  }
  const double sa = 0.05, sb = 0.08, so = 0.1, common = 2 * sb;
  const double ms[3] = {sa / common, sb / common, common / (so * (1 << 20))};
  AddParams p;
  for (int i = 0; i < 3; ++i) {
    p.multiplier[i] = quantize_multiplier(ms[i]).multiplier;
    p.shift[i] = quantize_multiplier(ms[i]).shift;
  }
  p.a_zero_point = 3, p.b_zero_point = 9, p.zero_point = 0;
  bench::LoopTimer timer;
  for (auto _ : state) {
    table->add(a.data(), b.data(), kCodes, p, out.data());
    benchmark::ClobberMemory();
  }
  state.counters["Gcodes/s"] = static_cast<double>(kCodes) * static_cast<double>(state.iterations()) / timer.seconds() / 1e9;
}

// ResNet-18's max pooling: 3x3, stride 2, padding 1 over its 112x112x64 stem output.
void BM_max_pool(benchmark::State& state, const KernelTable* table) {
  constexpr int64_t kSize = 112, kChannels = 64, kOut = 56;
  Generator g(5);
  std::vector<uint8_t> x(kSize * kSize * kChannels), out(kOut * kOut * kChannels);
  for (auto& v : x) v = static_cast<uint8_t>(g.next_u64());
  bench::LoopTimer timer;
  for (auto _ : state) {
    table->max_pool(x.data(), kSize, kSize, kChannels, 3, 2, 1, kOut, 0, kOut, out.data());
    benchmark::ClobberMemory();
  }
  state.counters["Gcodes/s"] = static_cast<double>(x.size()) * static_cast<double>(state.iterations()) / timer.seconds() / 1e9;
}

int register_all() {
  const auto tables = available_kernel_tables();
  for (const GemmCase& c : kGemms) {
    const std::string base = std::string("int8_gemm/") + c.name;
    for (const KernelTable* t : tables) {
      benchmark::RegisterBenchmark((base + "/" + t->id + "_codes").c_str(), BM_table_gemm, c, t, true);
      if (t != &scalar_kernel_table())
        benchmark::RegisterBenchmark((base + "/" + t->id + "_int32").c_str(), BM_table_gemm, c, t, false);
    }
    benchmark::RegisterBenchmark((base + "/onednn_gemm_int32").c_str(), BM_onednn_gemm, c);
    benchmark::RegisterBenchmark((base + "/reference_int32").c_str(), BM_reference_gemm, c);
  }
  // The same shapes as convolutions through oneDNN (1x1 at their feature-map size; 3x3 for ResNet's).
  const struct { const GemmCase* gemm; int64_t kernel, size; } convs[] = {
      {&kGemms[0], 1, 112}, {&kGemms[1], 1, 56}, {&kGemms[2], 1, 28}, {&kGemms[3], 1, 14},
      {&kGemms[4], 1, 7},   {&kGemms[5], 3, 56}, {&kGemms[6], 3, 14}};
  for (const auto& c : convs)
    benchmark::RegisterBenchmark((std::string("int8_gemm/") + c.gemm->name + "/onednn_conv_int32").c_str(),
                                 BM_onednn_conv, *c.gemm, c.kernel, c.size);
  for (const KernelTable* t : {tables.front(), &scalar_kernel_table()}) {
    benchmark::RegisterBenchmark((std::string("im2col/stem_7x7s2_224x224x3/") + t->id).c_str(), BM_im2col, 7, t);
    benchmark::RegisterBenchmark((std::string("im2col/stem_3x3s2_224x224x3/") + t->id).c_str(), BM_im2col, 3, t);
  }
  for (const KernelTable* t : tables)
    if (t->gemm_segmented) {
      benchmark::RegisterBenchmark((std::string("segmented_stem/r18_7x7s2_3to64/") + t->id).c_str(), BM_segmented_stem, 7, 64, t);
      benchmark::RegisterBenchmark((std::string("segmented_stem/mb_3x3s2_3to32/") + t->id).c_str(), BM_segmented_stem, 3, 32, t);
      benchmark::RegisterBenchmark((std::string("segmented_stem/mb_3x3s2_3to24/") + t->id).c_str(), BM_segmented_stem, 3, 24, t);
    }
  for (const KernelTable* t : tables) {
    const std::string tail = std::string("/") + t->id;
    benchmark::RegisterBenchmark(("depthwise3x3/112x112x24" + tail).c_str(), BM_depthwise, 112, 24, 1, t);
    benchmark::RegisterBenchmark(("depthwise3x3/56x56x96" + tail).c_str(), BM_depthwise, 56, 96, 1, t);
    benchmark::RegisterBenchmark(("depthwise3x3/56x56x144" + tail).c_str(), BM_depthwise, 56, 144, 1, t);
    benchmark::RegisterBenchmark(("depthwise3x3/14x14x384" + tail).c_str(), BM_depthwise, 14, 384, 1, t);
    benchmark::RegisterBenchmark(("depthwise3x3/112x112x96_s2" + tail).c_str(), BM_depthwise, 112, 96, 2, t);
    benchmark::RegisterBenchmark(("depthwise3x3/28x28x192_s2" + tail).c_str(), BM_depthwise, 28, 192, 2, t);
    benchmark::RegisterBenchmark(("requantize/384x196" + tail).c_str(), BM_requantize, t);
    benchmark::RegisterBenchmark(("add/56x56x64" + tail).c_str(), BM_add, t);
    benchmark::RegisterBenchmark(("max_pool/3x3s2_112x112x64" + tail).c_str(), BM_max_pool, t);
  }
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
