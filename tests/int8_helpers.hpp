#pragma once
// Shared by the int8 suites: the kernel tables this CPU runs, and random valid programs.
#include <doctest.h>

#include <algorithm>
#include <vector>

#include "core/generator.hpp"
#include "int8/kernel_table.hpp"
#include "int8/program.hpp"
#include "int8/requantize.hpp"

namespace intrain::testing {

// Every kernel table this CPU runs, with a line for each one it cannot (so a log shows what
// was not exercised here).
inline std::vector<const int8::KernelTable*> tables_to_test() {
  const auto available = int8::available_kernel_tables();
  for (const int8::KernelTable* t : int8::kernel_tables())
    if (std::find(available.begin(), available.end(), t) == available.end())
      MESSAGE("skipped: the ", t->name, " kernels (this CPU or INTRAIN_ISA/INTRAIN_INT8_KERNELS rules them out)");
  return available;
}

// A random but valid program: conv layers of the given kinds, pools, flatten, linear.
struct ConvSpec {
  int64_t out, kernel, stride, padding, groups;
};

inline int8::Program random_program(const Shape& input, const std::vector<ConvSpec>& convs, uint64_t seed) {
  using namespace int8;
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

}  // namespace intrain::testing
