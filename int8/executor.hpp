#pragma once
// Runs an int8 Program: quantizes the float (or uint8) input, executes the integer ops,
// and returns float logits. Weights are packed for the fast path once, at construction.
// Needs only core (tensors, threads): no autograd, no nn.
//
//   int8::Executor exe(int8::load_program("lenet.int8"));
//   Tensor logits = exe.run(images);  // [N, C, H, W] f32 → [N, classes] f32
#include <vector>

#include "int8/kernels.hpp"
#include "int8/program.hpp"

namespace intrain::int8 {

struct ExecutorOptions {
  bool fast = true;  // VNNI kernels where the CPU has them; false: the scalar reference
};

class Executor {
 public:
  explicit Executor(Program program, ExecutorOptions options = {});

  // Float input, normalized as in training: [N, C, H, W] or [C, H, W].
  Tensor run(const Tensor& input) const;
  // Input already quantized to the program's input codes (u8), e.g. integer pixels.
  Tensor run_codes(const Tensor& codes) const;

  const Program& program() const { return program_; }
  bool uses_fast_path() const { return fast_; }

 private:
  Tensor run_example_batch(const uint8_t* codes, int64_t batch) const;
  void run_one(const uint8_t* input, float* logits) const;

  Program program_;
  bool fast_;
  std::vector<PackedWeights> packed_;  // per op (empty for ops without weights); per group for conv
  std::vector<std::vector<PackedWeights>> packed_groups_;
  int64_t max_activation_ = 0, max_columns_ = 0, max_acc_ = 0;  // buffer sizes planned at load
};

}  // namespace intrain::int8
