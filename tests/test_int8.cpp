// The int8 executor: fixed-point requantization, the VNNI kernels bit-identical to the
// reference over many shapes, program files (round trip and damaged files), and agreement
// between a fake-quantized model and its converted program.
#include <doctest.h>

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <fstream>
#include <limits>

#include "core/autograd.hpp"
#include "core/safetensors.hpp"
#include "data/mnist.hpp"
#include "int8/executor.hpp"
#include "int8/requantize.hpp"
#include "models/lenet.hpp"
#include "nn/layers.hpp"
#include "quant/convert.hpp"
#include "quant/prepare.hpp"
#include "tests/expect_error.hpp"
#include "tests/int8_agreement.hpp"
#include "tests/temp_dir.hpp"

using namespace intrain;
using namespace intrain::int8;
using intrain::testing::TempDir;
using intrain::testing::expect_error;

namespace {

// Rewrites a program file with its graph JSON edited (and a fresh checksum, as a writer
// that meant it would leave): what the validator sees of a hostile or buggy writer.
void edit_graph(const std::string& from, const std::string& to, const std::function<void(nlohmann::json&)>& edit) {
  SafetensorsFile file = load_safetensors(from);
  nlohmann::json graph = nlohmann::json::parse(file.metadata.at("intrain_int8_program"));
  edit(graph);
  file.metadata["intrain_int8_program"] = graph.dump();
  save_safetensors(to, file.tensors, file.metadata);
}

// Every kernel table this CPU runs, with a line for each one it cannot (so a log shows what
// was not exercised here).
std::vector<const KernelTable*> tables_to_test() {
  const auto available = available_kernel_tables();
  for (const KernelTable* t : kernel_tables())
    if (std::find(available.begin(), available.end(), t) == available.end())
      MESSAGE("skipped: the ", t->name, " kernels (this CPU or INTRAIN_ISA/INTRAIN_INT8_KERNELS rules them out)");
  return available;
}

}  // namespace

TEST_CASE("fixed-point multipliers and rounding follow the spec") {
  for (double m : {1e-6, 0.0003, 0.25, 0.5, 0.7071, 0.999999, 1.0, 3.5, 1000.0}) {
    const FixedPointMultiplier f = quantize_multiplier(m);
    CHECK(f.multiplier >= (1 << 30));
    CHECK(std::ldexp(static_cast<double>(f.multiplier), -31 - f.shift) == doctest::Approx(m).epsilon(1e-9));
  }
  CHECK(rounding_divide_by_pot(5, 1) == 3);    // 2.5 → 3 (half away from zero)
  CHECK(rounding_divide_by_pot(-5, 1) == -3);  // −2.5 → −3
  CHECK(rounding_divide_by_pot(7, 2) == 2);    // 1.75 → 2
  CHECK(rounding_divide_by_pot(-6, 2) == -2);  // −1.5 → −2
  Generator g(1);
  for (int i = 0; i < 2000; ++i) {
    const auto x = static_cast<int32_t>(static_cast<int64_t>(g.next_u64() % 2000001) - 1000000);
    const double m = 1e-4 + g.uniform() * 0.9;
    const int32_t got = multiply_by_quantized_multiplier(x, quantize_multiplier(m));
    // Two roundings (the high multiply, then the shift): within one unit of x·m.
    CHECK(std::abs(static_cast<double>(got) - static_cast<double>(x) * m) <= 1.0);
  }
  CHECK(requantize(1000, quantize_multiplier(0.01), 3, 0, 255) == 13);
  CHECK(requantize(-1000, quantize_multiplier(0.01), 3, 0, 255) == 0);  // clamped
}

TEST_CASE("every table's GEMM equals the reference loops bit for bit, raw and requantized") {
  const auto tables = tables_to_test();
  Generator g(2);
  for (int64_t rows : {1, 3, 16, 17, 33, 50})
    for (int64_t k : {1, 3, 4, 25, 70, 800})
      for (int64_t out : {1, 7, 16, 17, 50, 130})
        for (int32_t zp : {0, 7, 128, 255}) {
          std::vector<uint8_t> x(static_cast<size_t>(rows * k));
          std::vector<int8_t> w(static_cast<size_t>(out * k));
          std::vector<int32_t> bias(static_cast<size_t>(out)), mult(bias.size()), shift(bias.size());
          for (auto& v : x) v = static_cast<uint8_t>(g.next_u64());
          for (auto& v : w) v = static_cast<int8_t>(static_cast<int>(g.next_u64() % 255) - 127);
          for (auto& v : bias) v = static_cast<int32_t>(g.next_u64() % 20001) - 10000;
          for (size_t c = 0; c < bias.size(); ++c) {
            const FixedPointMultiplier m = quantize_multiplier(std::pow(10.0, -6.0 + 5.5 * g.uniform()));
            mult[c] = m.multiplier;
            shift[c] = m.shift;
          }
          std::vector<int32_t> want(static_cast<size_t>(rows * out));
          linear_acc_reference(rows, k, out, x.data(), zp, w.data(), bias.data(), want.data());
          const ChannelRequant rq{mult.data(), shift.data(), 3, 3, 255};
          std::vector<uint8_t> want_codes(want.size());
          for (int64_t r = 0; r < rows; ++r)
            requantize_channels_reference(want.data() + r * out, out, rq, want_codes.data() + r * out);
          CAPTURE(rows);
          CAPTURE(k);
          CAPTURE(out);
          CAPTURE(zp);
          for (const KernelTable* table : tables) {
            CAPTURE(table->id);
            const PackedWeights packed = table->pack(w.data(), out, k, bias.data(), zp);
            // Rows with a stride wider than k_padded, junk in the padding (its weights are zero).
            const int64_t lda = packed.k_padded + 8;
            std::vector<uint8_t> padded(static_cast<size_t>(rows * lda), 0x5a);
            for (int64_t r = 0; r < rows; ++r) std::copy_n(x.data() + r * k, k, padded.data() + r * lda);
            const GemmFn gemm = table->gemm;
            std::vector<int32_t> got(want.size());
            GemmOutput raw;
            raw.acc = got.data();
            raw.ld = out;
            // Two chunks of output channels, as the executor splits them.
            const int64_t split = out > 64 ? 64 : out;
            gemm(padded.data(), rows, lda, packed.k_padded, out, packed.data.data(), packed.bias.data(), 0, split, raw);
            gemm(padded.data(), rows, lda, packed.k_padded, out, packed.data.data(), packed.bias.data(), split, out, raw);
            CHECK(got == want);
            std::vector<uint8_t> codes(want.size());
            GemmOutput requantized;
            requantized.codes = codes.data();
            requantized.requant = rq;
            requantized.ld = out;
            gemm(padded.data(), rows, lda, packed.k_padded, out, packed.data.data(), packed.bias.data(), 0, out,
                 requantized);
            CHECK(codes == want_codes);
          }
        }
}

TEST_CASE("every table's requantization and residual addition equal the scalar definition") {
  const auto tables = tables_to_test();
  Generator g(3);
  for (int64_t n : {1, 15, 16, 17, 100, 1023}) {
    std::vector<int32_t> acc(static_cast<size_t>(n)), mult(acc.size()), shift(acc.size());
    for (int trial = 0; trial < 40; ++trial) {
      for (auto& v : acc) v = static_cast<int32_t>(static_cast<int64_t>(g.next_u64() % 4000001) - 2000000);
      acc[0] = trial % 2 ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int32_t>::min();
      for (size_t c = 0; c < acc.size(); ++c) {  // 1e-6 .. 0.9: right shifts 0..20
        const FixedPointMultiplier m = quantize_multiplier(std::pow(10.0, -6.0 + 5.95 * g.uniform()));
        mult[c] = m.multiplier;
        shift[c] = m.shift;
      }
      const int32_t zp = static_cast<int32_t>(g.next_u64() % 256), lo = trial % 3 ? zp : 0;
      REQUIRE(vector_requantizable(mult.data(), shift.data(), n));
      const ChannelRequant rq{mult.data(), shift.data(), zp, lo, 255};
      std::vector<uint8_t> want(acc.size()), got(acc.size());
      requantize_channels_reference(acc.data(), n, rq, want.data());
      CAPTURE(n);
      for (const KernelTable* table : tables) {
        CAPTURE(table->id);
        table->requantize(acc.data(), n, rq, got.data());
        CHECK(got == want);
      }
    }
  }
  // Residual additions: random scales, as the converter derives them (§7).
  for (int trial = 0; trial < 50; ++trial) {
    const double sa = 0.01 + 0.1 * g.uniform(), sb = 0.01 + 0.1 * g.uniform(), so = 0.02 + 0.2 * g.uniform();
    const double common = 2 * std::max(sa, sb);
    AddParams p;
    const double ms[3] = {sa / common, sb / common, common / (so * (1 << 20))};
    for (int i = 0; i < 3; ++i) {
      p.multiplier[i] = quantize_multiplier(ms[i]).multiplier;
      p.shift[i] = quantize_multiplier(ms[i]).shift;
    }
    p.a_zero_point = static_cast<int32_t>(g.next_u64() % 256);
    p.b_zero_point = static_cast<int32_t>(g.next_u64() % 256);
    p.zero_point = static_cast<int32_t>(g.next_u64() % 256);
    p.lo = trial % 2 ? p.zero_point : 0;
    REQUIRE(vector_requantizable(p.multiplier, p.shift, 3));
    std::vector<uint8_t> a(77), b(77), want(77), got(77);
    for (size_t i = 0; i < a.size(); ++i) {
      a[i] = static_cast<uint8_t>(g.next_u64());
      b[i] = static_cast<uint8_t>(g.next_u64());
    }
    add_reference(a.data(), b.data(), 77, p, want.data());
    for (const KernelTable* table : tables) {
      CAPTURE(table->id);
      table->add(a.data(), b.data(), 77, p, got.data());
      CHECK(got == want);
    }
  }
  // Input quantization: ties (round half to even), both signs, the clamp, huge values, infinities, NaN.
  {
    const float scale = 0.25f;  // a power of two: x / scale is exact, so the ties below are real ties
    std::vector<float> x;
    for (int i = -700; i <= 700; ++i) x.push_back(scale * (static_cast<float>(i) + 0.5f));
    for (int i = 0; i < 300; ++i) x.push_back(static_cast<float>(g.uniform() * 300.0 - 150.0));
    for (float v : {1e30f, -1e30f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::quiet_NaN(), 0.0f, -0.0f, 3e9f, -3e9f})
      x.push_back(v);
    for (int32_t zp : {0, 37, 128, 255}) {
      std::vector<uint8_t> want(x.size()), got(x.size());
      quantize_input_reference(x.data(), static_cast<int64_t>(x.size()), scale, zp, want.data());
      CHECK(want[700] == std::clamp(0 + zp, 0, 255));  // 0.5 rounds to the even 0
      CHECK(want[701] == std::clamp(2 + zp, 0, 255));  // 1.5 to 2
      CHECK(want[702] == std::clamp(2 + zp, 0, 255));  // 2.5 to 2
      for (const KernelTable* table : tables) {
        CAPTURE(table->id);
        CAPTURE(zp);
        table->quantize_input(x.data(), static_cast<int64_t>(x.size()), scale, zp, got.data());
        CHECK(got == want);
      }
    }
  }
  const int32_t big_multiplier = quantize_multiplier(3.0).multiplier, left_shift = quantize_multiplier(3.0).shift;
  CHECK_FALSE(vector_requantizable(&big_multiplier, &left_shift, 1));  // multipliers >= 1 stay scalar
}

TEST_CASE("im2col_nhwc gathers every window, from any pixel range, as a naive loop does") {
  Generator g(8);
  struct Case {
    int64_t channels, c_begin, c_count, height, width, kernel, stride, padding;
  };
  for (const Case c : std::vector<Case>{{3, 0, 3, 23, 21, 7, 2, 3}, {3, 0, 3, 12, 13, 3, 2, 1}, {1, 0, 1, 12, 12, 5, 1, 0},
                                        {8, 4, 4, 9, 7, 3, 1, 1},  {16, 0, 16, 6, 9, 3, 2, 0}, {5, 0, 5, 4, 4, 5, 1, 2}}) {
    const int64_t oh = (c.height + 2 * c.padding - c.kernel) / c.stride + 1;
    const int64_t ow = (c.width + 2 * c.padding - c.kernel) / c.stride + 1;
    const int64_t k = c.kernel * c.kernel * c.c_count, k_padded = k + 5;
    std::vector<uint8_t> x(static_cast<size_t>(c.height * c.width * c.channels));
    for (auto& v : x) v = static_cast<uint8_t>(g.next_u64());
    std::vector<uint8_t> want(static_cast<size_t>(oh * ow * k_padded), 77);  // the zero point everywhere else
    for (int64_t p = 0; p < oh * ow; ++p)
      for (int64_t ky = 0; ky < c.kernel; ++ky)
        for (int64_t kx = 0; kx < c.kernel; ++kx)
          for (int64_t ch = 0; ch < c.c_count; ++ch) {
            const int64_t iy = (p / ow) * c.stride - c.padding + ky, ix = (p % ow) * c.stride - c.padding + kx;
            if (iy >= 0 && iy < c.height && ix >= 0 && ix < c.width)
              want[static_cast<size_t>(p * k_padded + (ky * c.kernel + kx) * c.c_count + ch)] =
                  x[static_cast<size_t>((iy * c.width + ix) * c.channels + c.c_begin + ch)];
          }
    // Ranges that start and end inside output rows, as row tiles split them.
    for (const auto& [p0, p1] : std::vector<std::pair<int64_t, int64_t>>{{0, oh * ow}, {1, oh * ow - 2}, {ow - 1, ow + 1}, {3, 3 + ow * 2}}) {
      if (p1 <= p0 || p1 > oh * ow) continue;
      std::vector<uint8_t> got(static_cast<size_t>((p1 - p0) * k_padded), 0x55);
      im2col_nhwc(x.data(), c.height, c.width, c.channels, c.c_begin, c.c_count, c.kernel, c.stride, c.padding, ow, p0,
                  p1, 77, k_padded, got.data());
      CAPTURE(c.kernel);
      CAPTURE(p0);
      CHECK(std::equal(got.begin(), got.end(), want.begin() + p0 * k_padded));
    }
  }
}

TEST_CASE("every table's depthwise and max-pooling kernels equal the NHWC references") {
  const auto tables = tables_to_test();
  Generator g(5);
  struct Case {
    int64_t channels, height, width, kernel, stride, padding;
  };
  // 3x3 at stride 1 and 2 with interiors wide enough for strips of 4 and their remainders,
  // padded and not, channel counts off the vector width; other kernels take the general path.
  for (const Case c : std::vector<Case>{{1, 5, 5, 3, 1, 1},    {16, 7, 6, 3, 2, 1},   {70, 9, 9, 3, 1, 1},
                                        {130, 8, 8, 5, 2, 2},  {24, 4, 4, 3, 1, 0},   {48, 20, 19, 3, 2, 1},
                                        {33, 12, 17, 3, 1, 1}, {8, 11, 11, 3, 2, 0},  {17, 3, 14, 3, 1, 1},
                                        {32, 13, 12, 3, 1, 0}}) {
    const int64_t oh = (c.height + 2 * c.padding - c.kernel) / c.stride + 1;
    const int64_t ow = (c.width + 2 * c.padding - c.kernel) / c.stride + 1;
    std::vector<uint8_t> x(static_cast<size_t>(c.height * c.width * c.channels));
    std::vector<int32_t> w(static_cast<size_t>(c.kernel * c.kernel * c.channels)), bias(static_cast<size_t>(c.channels));
    std::vector<int32_t> mult(bias.size()), shift(bias.size());
    for (auto& v : x) v = static_cast<uint8_t>(g.next_u64());
    for (auto& v : w) v = static_cast<int32_t>(g.next_u64() % 255) - 127;
    for (auto& v : bias) v = static_cast<int32_t>(g.next_u64() % 2001) - 1000;
    for (size_t i = 0; i < bias.size(); ++i) {
      const FixedPointMultiplier m = quantize_multiplier(0.0005 + 0.01 * g.uniform());
      mult[i] = m.multiplier;
      shift[i] = m.shift;
    }
    const ChannelRequant rq{mult.data(), shift.data(), 5, 5, 250};
    std::vector<uint8_t> want(static_cast<size_t>(oh * ow * c.channels)), got(want.size());
    depthwise_nhwc_reference(x.data(), c.height, c.width, c.channels, c.kernel, c.stride, c.padding, ow, 0, oh, 131,
                             w.data(), bias.data(), rq, want.data());
    CAPTURE(c.channels);
    CAPTURE(c.height);
    CAPTURE(c.stride);
    std::vector<uint8_t> want_max(want.size());
    max_pool_nhwc_reference(x.data(), c.height, c.width, c.channels, c.kernel, c.stride, c.padding, ow, 0, oh,
                            want_max.data());
    for (const KernelTable* table : tables) {
      CAPTURE(table->id);
      if (c.channels % table->depthwise_channel_multiple == 0) {
        std::fill(got.begin(), got.end(), 0x77);
        table->depthwise(x.data(), c.height, c.width, c.channels, c.kernel, c.stride, c.padding, ow, 0, oh, 131,
                         w.data(), bias.data(), rq, got.data());
        CHECK(got == want);
        // The same rows in two calls, as the executor splits them over threads.
        std::fill(got.begin(), got.end(), 0x77);
        const int64_t half = oh / 2;
        table->depthwise(x.data(), c.height, c.width, c.channels, c.kernel, c.stride, c.padding, ow, 0, half, 131,
                         w.data(), bias.data(), rq, got.data());
        table->depthwise(x.data(), c.height, c.width, c.channels, c.kernel, c.stride, c.padding, ow, half, oh, 131,
                         w.data(), bias.data(), rq, got.data());
        CHECK(got == want);
      }
      // Max pooling over the same windows (padding included).
      std::vector<uint8_t> got_max(want.size(), 0x77);
      table->max_pool(x.data(), c.height, c.width, c.channels, c.kernel, c.stride, c.padding, ow, 0, oh, got_max.data());
      CHECK(got_max == want_max);
    }
  }
}

namespace {

// A random but valid program: conv layers of the given kinds, pools, flatten, linear.
struct ConvSpec {
  int64_t out, kernel, stride, padding, groups;
};

Program random_program(const Shape& input, const std::vector<ConvSpec>& convs, uint64_t seed) {
  Generator g(seed);
  auto rand_i8 = [&](const Shape& s) {
    std::vector<int8_t> v(static_cast<size_t>(shape_numel(s)));
    for (auto& x : v) x = static_cast<int8_t>(static_cast<int>(g.next_u64() % 255) - 127);
    return Tensor::from_vector(v, s);
  };
  auto per_channel = [&](int64_t n, auto make) {
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (auto& x : v) x = make();
    return Tensor::from_vector(v, {n});
  };
  Program p;
  p.input_shape = input;
  p.input_scale = 0.02f;
  p.input_zero_point = 17;
  Shape cur = input;
  int32_t zp = p.input_zero_point;
  for (const ConvSpec& c : convs) {
    Op op;
    op.kind = OpKind::conv2d;
    op.in_shape = cur;
    op.kernel = c.kernel;
    op.stride = c.stride;
    op.padding = c.padding;
    op.groups = c.groups;
    op.out_shape = {c.out, (cur[1] + 2 * c.padding - c.kernel) / c.stride + 1, (cur[2] + 2 * c.padding - c.kernel) / c.stride + 1};
    op.input_zero_point = zp;
    op.weight = rand_i8({c.out, cur[0] / c.groups, c.kernel, c.kernel});
    op.bias = per_channel(c.out, [&] { return static_cast<int32_t>(g.next_u64() % 4001) - 2000; });
    op.multiplier = per_channel(c.out, [&] { return quantize_multiplier(0.0005 + 0.002 * g.uniform()).multiplier; });
    op.shift = per_channel(c.out, [&] { return quantize_multiplier(0.0005 + 0.002 * g.uniform()).shift; });
    op.output_zero_point = static_cast<int32_t>(g.next_u64() % 20);
    op.clamp_min = op.output_zero_point;
    op.clamp_max = 255;
    zp = op.output_zero_point;
    cur = op.out_shape;
    p.ops.push_back(op);
  }
  for (OpKind pool_kind : {OpKind::max_pool, OpKind::avg_pool, OpKind::max_pool}) {
    if (cur[1] < 2 || cur[2] < 2) break;
    Op pool;
    pool.kind = pool_kind;
    pool.in_shape = cur;
    pool.kernel = 2;
    pool.stride = pool_kind == OpKind::avg_pool || cur[1] < 4 ? 1 : 2;  // 2x2/2 max pooling has a fast path
    pool.out_shape = {cur[0], (cur[1] - 2) / pool.stride + 1, (cur[2] - 2) / pool.stride + 1};
    if (pool_kind == OpKind::avg_pool) {  // requantized: M = s_x / (s_y · 4) with s_y a little wider
      const FixedPointMultiplier m = quantize_multiplier(0.25 / 1.1);
      pool.multiplier = Tensor::from_vector(std::vector<int32_t>{m.multiplier}, {1});
      pool.shift = Tensor::from_vector(std::vector<int32_t>{m.shift}, {1});
      pool.input_zero_point = zp;
      pool.output_zero_point = zp;
      pool.clamp_min = 0;
      pool.clamp_max = 255;
    }
    cur = pool.out_shape;
    p.ops.push_back(pool);
    if (pool_kind == OpKind::avg_pool) {  // and a residual connection around nothing: x + x
      Op save, add;
      save.kind = OpKind::save;
      save.in_shape = save.out_shape = cur;
      add.kind = OpKind::add;
      add.in_shape = add.out_shape = cur;
      std::vector<int32_t> mult, shift;
      for (double m : {0.5, 0.5, 2.0 / (1 << 20) / 2.5}) {
        mult.push_back(quantize_multiplier(m).multiplier);
        shift.push_back(quantize_multiplier(m).shift);
      }
      add.multiplier = Tensor::from_vector(mult, {3});
      add.shift = Tensor::from_vector(shift, {3});
      add.input_zero_point = add.saved_zero_point = zp;
      add.output_zero_point = 3;
      add.clamp_min = 0;
      add.clamp_max = 255;
      zp = 3;
      p.ops.push_back(save);
      p.ops.push_back(add);
    }
  }
  Op flat;
  flat.kind = OpKind::flatten;
  flat.in_shape = cur;
  flat.out_shape = {shape_numel(cur)};
  p.ops.push_back(flat);
  Op fc;
  fc.kind = OpKind::linear;
  fc.in_shape = flat.out_shape;
  fc.out_shape = {10};
  fc.input_zero_point = zp;
  fc.weight = rand_i8({10, flat.out_shape[0]});
  fc.bias = per_channel(10, [&] { return static_cast<int32_t>(g.next_u64() % 2001) - 1000; });
  fc.output_scale = Tensor::full({10}, 0.001);
  p.ops.push_back(fc);
  return p;
}

}  // namespace

TEST_CASE("executor: the fast path is bit-identical to the reference over many conv shapes") {
  // (with max and average pooling, flatten and a float-output linear after the convolutions)
  const std::vector<std::pair<Shape, std::vector<ConvSpec>>> cases = {
      {{1, 12, 12}, {{20, 5, 1, 0, 1}}},                       // LeNet-like
      {{3, 9, 9}, {{8, 3, 2, 1, 1}, {8, 3, 1, 1, 8}}},         // stem stride 2, then depthwise
      {{5, 7, 7}, {{5, 3, 2, 1, 5}, {7, 1, 1, 0, 1}}},         // odd depthwise stride 2, pointwise
      {{4, 6, 5}, {{6, 1, 1, 0, 2}, {3, 3, 1, 2, 3}}},         // grouped, wide padding
      {{17, 4, 4}, {{33, 3, 1, 1, 1}}},                        // odd channel counts
      {{8, 9, 9}, {{6, 3, 2, 1, 1}, {6, 3, 2, 0, 1}}},         // channel-quad layout, stride 2, padded and not
      {{12, 7, 6}, {{12, 5, 1, 2, 3}}},                        // grouped, 4 channels per group, wide padding
  };
  Generator g(4);
  for (const auto& [input, convs] : cases) {
    Program p = random_program(input, convs, 7);
    CAPTURE(shape_str(input));
    Executor reference(p, {false});
    Tensor x = Tensor::randn({3, input[0], input[1], input[2]}, g);
    const auto want = reference.run(x).to_vector<float>();
    for (const KernelTable* table : tables_to_test()) {
      CAPTURE(table->id);
      Executor fast(p, {true, table});
      CHECK(fast.run(x).to_vector<float>() == want);
    }
  }
}

TEST_CASE("program files round-trip and reject damage with clear errors") {
  TempDir dir;
  Program p = random_program({2, 6, 6}, {{4, 3, 1, 1, 1}}, 9);
  save_program(dir / "p.int8", p);
  Program back = load_program(dir / "p.int8");
  Generator g(5);
  Tensor x = Tensor::randn({2, 2, 6, 6}, g);
  CHECK(Executor(back).run(x).to_vector<float>() == Executor(p).run(x).to_vector<float>());

  std::ifstream in(dir / "p.int8", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto write = [&](const std::string& name, const std::string& b) { std::ofstream(dir / name, std::ios::binary) << b; };
  write("truncated.int8", bytes.substr(0, bytes.size() - 10));
  CHECK_THROWS_AS(load_program(dir / "truncated.int8"), Error);
  // A program of a newer format version (written, and checksummed, by a newer intrain).
  edit_graph(dir / "p.int8", dir / "newer.int8", [](nlohmann::json& graph) { graph["version"] = 9; });
  try {
    load_program(dir / "newer.int8");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("format version 9") != std::string::npos);
  }
  // Flip bits all over the file, header and data: every one is an Error naming the file
  // (the header breaks its JSON or its structure, or the CRC-32 catches it), never a crash
  // and never a program that loads with other contents.
  int flips = 0, refused = 0;
  for (size_t i = 8; i < bytes.size(); i += 5) {
    std::string flipped = bytes;
    flipped[i] = static_cast<char>(flipped[i] ^ (1 << (i % 8)));
    ++flips;
    try {
      parse_program(flipped, "flipped.int8");
    } catch (const Error& e) {
      refused += std::string(e.what()).find("flipped.int8") != std::string::npos;
    }
  }
  CHECK(refused == flips);
  // 4- and 2-bit layers are packed in the file and come back as the same codes.
  Program narrow = p;
  for (Op& op : narrow.ops) {
    if (!op.weight.defined()) continue;
    op.weight_bits = &op == &narrow.ops.front() ? 4 : 2;
    const int32_t limit = op.weight_bits == 4 ? 7 : 1;
    int8_t* w = op.weight.data<int8_t>();
    for (int64_t k = 0; k < op.weight.numel(); ++k) w[k] = static_cast<int8_t>(std::clamp<int32_t>(w[k] % 8, -limit - 1, limit));
  }
  save_program(dir / "narrow.int8", narrow);
  CHECK(load_program(dir / "narrow.int8").ops.front().weight.to_vector<int8_t>() == narrow.ops.front().weight.to_vector<int8_t>());
  CHECK(load_program(dir / "narrow.int8").ops.back().weight.to_vector<int8_t>() == narrow.ops.back().weight.to_vector<int8_t>());
  CHECK(std::filesystem::file_size(dir / "narrow.int8") < std::filesystem::file_size(dir / "p.int8"));
  narrow.ops.front().weight.data<int8_t>()[0] = 100;  // does not fit 4 bits
  CHECK_THROWS_AS(save_program(dir / "bad.int8", narrow), Error);

  Program broken = p;
  broken.ops[0].out_shape[1] += 1;
  CHECK_THROWS_AS(broken.validate(), Error);
  CHECK_THROWS_AS(Executor(p).run(Tensor::zeros({1, 3, 6, 6})), Error);  // wrong input shape
  CHECK_THROWS_AS(load_program(dir / "missing.int8"), Error);
}

TEST_CASE("the program validator refuses every out-of-range field, wrapping shape and overflowing accumulator") {
  TempDir dir;
  Program p = random_program({2, 6, 6}, {{4, 3, 1, 1, 1}}, 9);
  save_program(dir / "p.int8", p);
  struct Case {
    const char* what;
    std::function<void(nlohmann::json&)> edit;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"a wrapping input shape", [](nlohmann::json& g) { g["input_shape"] = {5, int64_t{1} << 62, 1}; }, "outside 1..2^24"},
      {"a huge kernel", [](nlohmann::json& g) { g["ops"][0]["kernel"] = int64_t{1} << 32; }, "field 'kernel'"},
      {"a max-pool kernel of 2^31+2", [](nlohmann::json& g) {
         for (auto& op : g["ops"]) if (op["kind"] == "max_pool") op["kernel"] = (int64_t{1} << 31) + 2;
       }, "field 'kernel'"},
      {"an output zero point of 1000", [](nlohmann::json& g) { g["ops"][0]["output_zero_point"] = 1000; }, "output_zero_point"},
      {"an int32 field of 2^40", [](nlohmann::json& g) { g["ops"][0]["clamp_max"] = int64_t{1} << 40; }, "clamp_max"},
      {"a fractional field", [](nlohmann::json& g) { g["ops"][0]["stride"] = 1.5; }, "field 'stride'"},
      {"a negative padding", [](nlohmann::json& g) { g["ops"][0]["padding"] = -1; }, "field 'padding'"},
      {"a 25-digit dimension", [](nlohmann::json& g) { g["ops"][0]["out_shape"][0] = 1e24; }, "dimension outside"},
      {"a four-dimensional shape", [](nlohmann::json& g) { g["ops"][0]["in_shape"] = {2, 6, 6, 1}; }, "1 to 3 dimensions"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    edit_graph(dir / "p.int8", dir / "bad.int8", c.edit);
    expect_error([&] { load_program(dir / "bad.int8"); }, c.expected);
    expect_error([&] { load_program(dir / "bad.int8"); }, "bad.int8");
  }
  // Fields of tensors, checked by validate() whoever built the program.
  auto refused = [&](const std::function<void(Program&)>& edit, const char* expected) {
    Program q = p;
    for (Op& op : q.ops) {  // own copies of the tensors the edit changes
      if (op.bias.defined()) op.bias = op.bias.clone();
      if (op.multiplier.defined()) op.multiplier = op.multiplier.clone();
      if (op.output_scale.defined()) op.output_scale = op.output_scale.clone();
    }
    edit(q);
    expect_error([&] { q.validate(); }, expected);
  };
  refused([](Program& q) { q.ops[0].multiplier.data<int32_t>()[0] = -5; }, "multiplier -5");
  refused([](Program& q) { q.ops[0].multiplier.data<int32_t>()[0] = 12345; }, "multiplier 12345");
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), 0.0f, -1.0f})
    refused([&](Program& q) { q.ops.back().output_scale.data<float>()[0] = bad; }, "output scale");
  refused([](Program& q) { q.ops[0].bias.data<int32_t>()[0] = std::numeric_limits<int32_t>::max() - 10; },
          "can overflow its int32 accumulator");
  refused([](Program& q) { q.ops[0].bias.data<int32_t>()[0] = std::numeric_limits<int32_t>::min(); },
          "can overflow its int32 accumulator");
  CHECK_NOTHROW(p.validate());
  // Not a regular file: refused at once, not waited on.
  const std::string fifo = dir / "fifo.int8";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  expect_error([&] { load_program(fifo); }, "is a FIFO");
  // A multiplier from a NaN scale (a PTQ checkpoint with NaN ranges) is refused where it is made.
  CHECK_THROWS_AS(quantize_multiplier(std::numeric_limits<double>::quiet_NaN()), Error);
}

TEST_CASE("a PTQ-calibrated LeNet converts, and the int8 program agrees with the fake-quantized model") {
  Generator g(11);
  auto model = models::lenet5_bn(g);
  // Give batch norm non-trivial running statistics, as training would.
  model->train();
  for (int i = 0; i < 5; ++i) {
    NoGradGuard no_grad;
    (*model)(Tensor::randn({16, 1, 28, 28}, g));
  }
  std::vector<uint8_t> pixels_u8(128 * 784), labels(128);
  for (auto& v : pixels_u8) v = static_cast<uint8_t>(g.next_u64());
  auto dataset = std::make_shared<data::MnistDataset>(pixels_u8, labels, 28, 28, data::normalize({0.5f}, {0.3f}));
  data::DataLoader loader(dataset, {32, false, 0, false, 0, 1});
  quant::prepare_ptq(*model, quant::preset("w8a8"));
  quant::calibrate(*model, loader, 4);
  const Program program = quant::convert(*model, {1, 28, 28}, "lenet5_bn");
  const Executor exe(program);
  Tensor x = Tensor::empty({64, 1, 28, 28});
  {
    data::DataLoader all(dataset, {64, false, 0, false, 0, 1});
    all.start_epoch(0);
    data::Batch b;
    all.next(b);
    x = b.images;
  }
  Tensor fake;
  {
    NoGradGuard no_grad;
    model->eval();
    fake = (*model)(x);
  }
  Tensor integer = exe.run(x);
  const auto a = argmax(fake, 1).to_vector<int32_t>(), b = argmax(integer, 1).to_vector<int32_t>();
  int agree = 0;
  for (size_t i = 0; i < a.size(); ++i) agree += a[i] == b[i];
  CHECK(agree >= 62);
  // Raw pixels through the program's pixel table give exactly the float input's result.
  int8::Program with_pixels = program;
  set_pixel_input(with_pixels, {0.5f}, {0.3f});
  Tensor pixels = Tensor::from_vector(std::vector<uint8_t>(pixels_u8.begin(), pixels_u8.begin() + 64 * 784), {64, 1, 28, 28});
  CHECK(Executor(with_pixels).run_pixels(pixels).to_vector<float>() == integer.to_vector<float>());
  CHECK_THROWS_AS(exe.run_pixels(pixels), Error);  // no table: a clear error
  // Logits agree to a fraction of the output range.
  const auto fl = fake.to_vector<float>(), il = integer.to_vector<float>();
  double worst = 0, range = 0;
  for (size_t i = 0; i < fl.size(); ++i) {
    worst = std::max(worst, std::abs(double(fl[i]) - il[i]));
    range = std::max(range, std::abs(double(fl[i])));
  }
  CHECK(worst < 0.05 * range);
}

TEST_CASE("residual blocks and average pooling convert and agree with the fake-quantized model") {
  Generator g(21);
  using nn::make;
  using Layers = std::initializer_list<nn::ModulePtr>;
  auto model = std::make_shared<nn::Sequential>(Layers{
      make<nn::Conv2d>(1, 8, 3, nn::Conv2dOptions{.padding = 1}, g), make<nn::ReLU>(),
      make<nn::Residual>(make<nn::Sequential>(Layers{make<nn::Conv2d>(8, 8, 3, nn::Conv2dOptions{.padding = 1}, g),
                                                     make<nn::BatchNorm2d>(8), make<nn::ReLU6>()})),
      make<nn::AvgPool2d>(2), make<nn::Conv2d>(8, 12, 1, nn::Conv2dOptions{}, g), make<nn::ReLU>(),
      make<nn::AdaptiveAvgPool2d>(), make<nn::Flatten>(), make<nn::Linear>(12, 10, true, g)});
  std::vector<uint8_t> pixels(96 * 784), labels(96);
  for (auto& v : pixels) v = static_cast<uint8_t>(g.next_u64());
  auto dataset = std::make_shared<data::MnistDataset>(pixels, labels, 28, 28, data::normalize({0.5f}, {0.3f}));
  data::DataLoader loader(dataset, {32, false, 0, false, 0, 1});
  auto layers = quant::prepare_ptq(*model, quant::preset("w8a8"));
  int kinds = 0;
  for (auto& l : layers) kinds += (l.kind == "residual_add") + (l.kind == "avg_pool");
  CHECK(kinds == 3);
  quant::calibrate(*model, loader, 3);
  const Program program = quant::convert(*model, {1, 28, 28});
  int saves = 0, adds = 0, pools = 0;
  for (const Op& op : program.ops) {
    saves += op.kind == OpKind::save;
    adds += op.kind == OpKind::add;
    pools += op.kind == OpKind::avg_pool;
  }
  CHECK(saves == 1);
  CHECK(adds == 1);
  CHECK(pools == 2);
  const Tensor images = intrain::testing::first_images(dataset, 96);
  CHECK(intrain::testing::int8_agreement(*model, program, images) >= 90);
  const Tensor integer = Executor(program).run(images);
  TempDir dir;
  save_program(dir / "res.int8", program);
  CHECK(Executor(load_program(dir / "res.int8")).run(images).to_vector<float>() == integer.to_vector<float>());
}
