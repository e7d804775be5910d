#pragma once
// Per-op times of an int8 program on random input codes, printed as a table: where the
// time goes (intrain-infer --profile and the inference benchmarks' --profile).
#include <cstdio>

#include "core/generator.hpp"
#include "int8/executor.hpp"

namespace intrain::int8 {

inline void print_profile(const Executor& executor, int64_t batch) {
  Generator g(3);
  const Shape in = executor.program().input_shape;
  Tensor codes = Tensor::empty({batch, in[0], in[1], in[2]}, DType::u8);
  uint8_t* p = codes.data<uint8_t>();
  for (int64_t i = 0, n = codes.numel(); i < n; ++i) p[i] = static_cast<uint8_t>(g.next_u64());
  const std::vector<double> seconds = executor.profile_ops(codes, 20);
  double total = 0;
  for (double s : seconds) total += s;
  std::printf("    int8 ops at batch %lld:\n", static_cast<long long>(batch));
  for (size_t i = 0; i < seconds.size(); ++i) {
    const Op& op = executor.program().ops[i];
    std::printf("    op %2zu %-8s %-16s -> %-16s k%lld s%lld g%-4lld %8.1f us %5.1f%%\n", i, op_kind_name(op.kind),
                shape_str(op.in_shape).c_str(), shape_str(op.out_shape).c_str(), static_cast<long long>(op.kernel),
                static_cast<long long>(op.stride), static_cast<long long>(op.groups), 1e6 * seconds[i],
                100 * seconds[i] / total);
  }
  std::printf("    total %.1f us\n", 1e6 * total);
}

}  // namespace intrain::int8
