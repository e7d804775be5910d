// The int8 kernels of every table this CPU runs against the scalar definitions, bit for
// bit: fixed-point requantization, the GEMMs (raw and requantized), requantization, residual
// addition and input quantization, im2col, depthwise and max pooling.
#include <doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/generator.hpp"
#include "int8/kernel_table.hpp"
#include "int8/requantize.hpp"
#include "tests/int8_helpers.hpp"

using namespace intrain;
using namespace intrain::int8;
using intrain::testing::tables_to_test;

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
        for (int32_t zp_case : {0, 7, 128, 255, -1}) {
          // -1: zero point 7 with a bias near 2^30, past the cheaper rounding's bound
          // (PackedWeights::small_sums false), so the kernels' full rounding runs too.
          const bool large_bias = zp_case < 0;
          const int32_t zp = large_bias ? 7 : zp_case;
          std::vector<uint8_t> x(static_cast<size_t>(rows * k));
          std::vector<int8_t> w(static_cast<size_t>(out * k));
          std::vector<int32_t> bias(static_cast<size_t>(out)), mult(bias.size()), shift(bias.size());
          for (auto& v : x) v = static_cast<uint8_t>(g.next_u64());
          for (auto& v : w) v = static_cast<int8_t>(static_cast<int>(g.next_u64() % 255) - 127);
          for (auto& v : bias) v = static_cast<int32_t>(g.next_u64() % 20001) - 10000;
          if (large_bias) bias[0] = (1 << 30) - 100;
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
            CHECK(packed.small_sums == !large_bias);
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
            requantized.small_sums = packed.small_sums;
            gemm(padded.data(), rows, lda, packed.k_padded, out, packed.data.data(), packed.bias.data(), 0, out,
                 requantized);
            CHECK(codes == want_codes);
          }
        }
}

TEST_CASE("every table's GEMM over runs of K equals the reference loops on the gathered rows") {
  Generator g(5);
  // (runs, run bytes, rows, output channels): ResNet's 7x7 stem, the MobileNets' 3x3, LeNet's 5x5.
  const struct { int64_t count, bytes, rows, out; } cases[] = {{7, 24, 112, 64}, {3, 12, 37, 24}, {5, 8, 13, 6}, {3, 12, 7, 130}};
  for (const auto& c : cases)
    for (int32_t zp : {0, 9}) {
      const int64_t lda = 6, pitch = 700, k = c.count * c.bytes;
      std::vector<uint8_t> image(static_cast<size_t>(c.rows * lda + c.count * pitch + c.bytes));
      for (auto& v : image) v = static_cast<uint8_t>(g.next_u64());
      std::vector<uint8_t> gathered(static_cast<size_t>(c.rows * k));
      for (int64_t r = 0; r < c.rows; ++r)
        for (int64_t j = 0; j < k; ++j)
          gathered[static_cast<size_t>(r * k + j)] = image[static_cast<size_t>(r * lda + (j / c.bytes) * pitch + j % c.bytes)];
      std::vector<int8_t> w(static_cast<size_t>(c.out * k));
      for (auto& v : w) v = static_cast<int8_t>(static_cast<int>(g.next_u64() % 255) - 127);
      std::vector<int32_t> bias(static_cast<size_t>(c.out)), mult(bias.size()), shift(bias.size());
      for (size_t o = 0; o < bias.size(); ++o) {
        bias[o] = static_cast<int32_t>(g.next_u64() % 20001) - 10000;
        const FixedPointMultiplier m = quantize_multiplier(std::pow(10.0, -5.0 + 4.0 * g.uniform()));
        mult[o] = m.multiplier;
        shift[o] = m.shift;
      }
      std::vector<int32_t> want(static_cast<size_t>(c.rows * c.out));
      linear_acc_reference(c.rows, k, c.out, gathered.data(), zp, w.data(), bias.data(), want.data());
      const ChannelRequant rq{mult.data(), shift.data(), 4, 4, 250};
      std::vector<uint8_t> want_codes(want.size());
      for (int64_t r = 0; r < c.rows; ++r)
        requantize_channels_reference(want.data() + r * c.out, c.out, rq, want_codes.data() + r * c.out);
      const PackedWeights packed = pack_weights_padded(w.data(), c.out, k, k, bias.data(), zp);
      CAPTURE(c.count);
      CAPTURE(c.out);
      for (const KernelTable* table : tables_to_test()) {
        if (!table->gemm_segmented) continue;
        CAPTURE(table->id);
        std::vector<int32_t> got(want.size());
        GemmOutput raw;
        raw.acc = got.data();
        raw.ld = c.out;
        table->gemm_segmented(image.data(), c.rows, lda, {c.count, c.bytes, pitch}, c.out, packed.data.data(),
                              packed.bias.data(), 0, c.out, raw);
        CHECK(got == want);
        std::vector<uint8_t> codes(want.size());
        GemmOutput requantized;
        requantized.codes = codes.data();
        requantized.requant = rq;
        requantized.ld = c.out;
        requantized.small_sums = packed.small_sums;
        table->gemm_segmented(image.data(), c.rows, lda, {c.count, c.bytes, pitch}, c.out, packed.data.data(),
                              packed.bias.data(), 0, c.out, requantized);
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
  // padded and not, channel counts off the vector width and over several 64-channel blocks;
  // other kernels take the general path.
  for (const Case c : std::vector<Case>{{1, 5, 5, 3, 1, 1},    {16, 7, 6, 3, 2, 1},   {70, 9, 9, 3, 1, 1},
                                        {130, 8, 8, 5, 2, 2},  {24, 4, 4, 3, 1, 0},   {48, 20, 19, 3, 2, 1},
                                        {33, 12, 17, 3, 1, 1}, {8, 11, 11, 3, 2, 0},  {17, 3, 14, 3, 1, 1},
                                        {32, 13, 12, 3, 1, 0}, {144, 10, 13, 3, 1, 1}, {64, 9, 18, 3, 2, 1},
                                        {200, 6, 11, 3, 2, 0},
                                        {100, 7, 9, 3, 1, 1},  {96, 8, 10, 3, 2, 1}}) {
    const int64_t oh = (c.height + 2 * c.padding - c.kernel) / c.stride + 1;
    const int64_t ow = (c.width + 2 * c.padding - c.kernel) / c.stride + 1;
    std::vector<uint8_t> x(static_cast<size_t>(c.height * c.width * c.channels));
    std::vector<int32_t> w(static_cast<size_t>(c.kernel * c.kernel * c.channels)), bias(static_cast<size_t>(c.channels));
    std::vector<int32_t> mult(bias.size()), shift(bias.size());
    for (auto& v : x) v = static_cast<uint8_t>(g.next_u64());
    for (auto& v : w) v = static_cast<int32_t>(g.next_u64() % 255) - 127;
    for (auto& v : bias) v = static_cast<int32_t>(g.next_u64() % 2001) - 1000;
    // Where a sum may pass 2^30 the AVX-512 kernel leaves its cheaper rounding for the general
    // one: every 7th channel of the wider cases gets sums near ±2^31 (as far as the validator
    // allows) and a right shift of 30, where the cheaper rounding would overflow.
    const bool huge_sums = c.channels >= 144;
    for (size_t i = 0; i < bias.size(); ++i) {
      if (huge_sums && i % 7 == 3) {
        bias[i] = (i % 2 ? 1 : -1) * ((int32_t{1} << 30) + ((int32_t{1} << 30) - (int32_t{1} << 20)));
        const FixedPointMultiplier m = quantize_multiplier(0.99 / (1 << 30));  // a shift of 30
        mult[i] = m.multiplier;
        shift[i] = m.shift;
        continue;
      }
      if (i % 11 == 5) {  // a right shift of 0 (multiplier ≥ 1/2), on weights of ±1 so codes stay in range
        for (int64_t t = 0; t < c.kernel * c.kernel; ++t)
          w[static_cast<size_t>(t * c.channels) + i] = static_cast<int32_t>(g.next_u64() % 3) - 1;
        const FixedPointMultiplier m = quantize_multiplier(0.6);
        mult[i] = m.multiplier;
        shift[i] = m.shift;
        continue;
      }
      const FixedPointMultiplier m = quantize_multiplier(0.0005 + 0.01 * g.uniform());
      mult[i] = m.multiplier;
      shift[i] = m.shift;
    }
    const ChannelRequant rq{mult.data(), shift.data(), 5, 5, 250};
    std::vector<uint8_t> want(static_cast<size_t>(oh * ow * c.channels)), got(want.size());
    depthwise_nhwc_reference(x.data(), c.height, c.width, c.channels, c.kernel, c.stride, c.padding, ow, 0, oh, 131,
                             w.data(), bias.data(), rq, nullptr, want.data());
    CAPTURE(c.channels);
    CAPTURE(c.height);
    CAPTURE(c.stride);
    std::vector<uint8_t> want_max(want.size());
    max_pool_nhwc_reference(x.data(), c.height, c.width, c.channels, c.kernel, c.stride, c.padding, ow, 0, oh,
                            want_max.data());
    for (const KernelTable* table : tables) {
      CAPTURE(table->id);
      if (c.channels % table->depthwise_channel_multiple == 0) {
        // Constants laid out per call (null), and once, as the executor prepares them.
        const std::shared_ptr<const void> prepared =
            table->prepare_depthwise
                ? table->prepare_depthwise(c.channels, c.kernel, c.stride, 131, w.data(), bias.data(), rq)
                : nullptr;
        for (const void* p : {static_cast<const void*>(nullptr), prepared.get()}) {
          CAPTURE(p != nullptr);
          std::fill(got.begin(), got.end(), 0x77);
          table->depthwise(x.data(), c.height, c.width, c.channels, c.kernel, c.stride, c.padding, ow, 0, oh, 131,
                           w.data(), bias.data(), rq, p, got.data());
          CHECK(got == want);
          // The same rows in two calls, as the executor splits them over threads.
          std::fill(got.begin(), got.end(), 0x77);
          const int64_t half = oh / 2;
          table->depthwise(x.data(), c.height, c.width, c.channels, c.kernel, c.stride, c.padding, ow, 0, half, 131,
                           w.data(), bias.data(), rq, p, got.data());
          table->depthwise(x.data(), c.height, c.width, c.channels, c.kernel, c.stride, c.padding, ow, half, oh, 131,
                           w.data(), bias.data(), rq, p, got.data());
          CHECK(got == want);
        }
      }
      // Max pooling over the same windows (padding included).
      std::vector<uint8_t> got_max(want.size(), 0x77);
      table->max_pool(x.data(), c.height, c.width, c.channels, c.kernel, c.stride, c.padding, ow, 0, oh, got_max.data());
      CHECK(got_max == want_max);
    }
  }
}
