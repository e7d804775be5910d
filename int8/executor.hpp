#pragma once
// Runs an int8 Program: quantizes the float (or uint8) input, executes the integer ops,
// and returns float logits. Weights are packed for the fast path once, at construction.
// Needs only core (tensors, threads): no autograd, no nn.
//
//   int8::Executor exe(int8::load_program("lenet.int8"));
//   Tensor logits = exe.run(images);  // [N, C, H, W] f32 → [N, classes] f32
#include <vector>

#include "int8/kernels.hpp"
#include "int8/requantize.hpp"
#include "int8/program.hpp"

namespace intrain::int8 {

struct ExecutorOptions {
  bool fast = true;  // the fastest kernels the CPU has (AVX-512 VNNI, else AVX2); false: the scalar reference
};

enum class KernelPath { reference, avx2, vnni };
const char* kernel_path_name(KernelPath path);

class Executor {
 public:
  explicit Executor(Program program, ExecutorOptions options = {});

  // Float input, normalized as in training: [N, C, H, W] or [C, H, W].
  Tensor run(const Tensor& input) const;
  // Input already quantized to the program's input codes (u8).
  Tensor run_codes(const Tensor& codes) const;
  // Raw 8-bit pixels [N, C, H, W] for programs with a pixel table (set_pixel_input):
  // integer-only from the first byte.
  Tensor run_pixels(const Tensor& pixels) const;

  const Program& program() const { return program_; }
  bool uses_fast_path() const { return path_ != KernelPath::reference; }
  KernelPath kernel_path() const { return path_; }

 private:
  // Runs layer by layer over the whole batch (so linear layers are one GEMM over the batch
  // rows, not one per example), in chunks that bound the activation memory.
  Tensor run_codes_contiguous(const uint8_t* codes, int64_t batch) const;
  void run_chunk(const uint8_t* codes, int64_t batch, float* logits) const;
  void run_conv(size_t index, const uint8_t* in, int64_t batch, uint8_t* out, float* logits) const;
  void run_linear(size_t index, const uint8_t* in, int64_t batch, uint8_t* out, float* logits) const;
  void run_pool(size_t index, const uint8_t* in, int64_t batch, uint8_t* out) const;
  void run_add(size_t index, const uint8_t* in, const uint8_t* saved, int64_t batch, uint8_t* out) const;
  // acc (bias included) → output codes or, for the last op, float logits.
  void finish(size_t index, const int32_t* acc, int64_t channels, int64_t pixels, uint8_t* out, float* logits) const;

  Program program_;
  KernelPath path_;
  std::vector<std::vector<PackedWeights>> packed_;             // per linear op
  std::vector<std::vector<RowWeights>> packed_conv_;           // per conv op, per group
  std::vector<bool> interleaved_;                              // per conv op: the channel-quad layout
  std::vector<std::vector<FixedPointMultiplier>> multipliers_;  // per op: per channel; avg_pool 1; add 3
  int64_t max_activation_ = 0;  // elements per example, planned at load
};

}  // namespace intrain::int8
