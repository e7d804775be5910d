#pragma once
// Runs an int8 Program: quantizes the float (or uint8) input, executes the integer ops,
// and returns float logits. Weights are packed for the fast path once, at construction.
// Needs only core (tensors, threads): no autograd, no nn.
//
//   int8::Executor exe(int8::load_program("lenet.int8"));
//   Tensor logits = exe.run(images);  // [N, C, H, W] f32 → [N, classes] f32
#include <functional>
#include <vector>

#include "int8/kernel_table.hpp"
#include "int8/requantize.hpp"
#include "int8/program.hpp"

namespace intrain::int8 {

// Called by Executor::run_with_op_outputs after each op with the op's index and its output
// for the whole batch in the program's layout ([N, C, H, W] or [N, features]) on both paths:
// u8 codes, or f32 logits from the last op. The tensor is the caller's to keep.
using OpObserver = std::function<void(size_t index, const Tensor& output)>;

struct ExecutorOptions {
  bool fast = true;  // NHWC through a kernel table; false: the NCHW scalar reference (the definition)
  const KernelTable* kernels = nullptr;  // the fast path's table; nullptr: best_kernel_table()
};

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
  // run(input), handing each op's output to `observe` as it is made: what the executor
  // really computes at every point, to compare with the float model (intrain debug-int8).
  // The batch runs as one slice (each layer still split over the threads); without an
  // observer no other run pays anything.
  Tensor run_with_op_outputs(const Tensor& input, const OpObserver& observe) const;

  // Seconds each op takes on `codes` (u8, [N, C, H, W]), best of `repeats` runs: where the
  // time goes (intrain-infer --profile).
  std::vector<double> profile_ops(const Tensor& codes, int repeats = 5) const;

  const Program& program() const { return program_; }
  bool uses_fast_path() const { return kernels_ != nullptr; }
  // The fast path's kernel table, or nullptr on the reference path.
  const KernelTable* kernels() const { return kernels_; }
  // For people: the table's name, or "NCHW reference".
  const char* kernels_name() const { return kernels_ ? kernels_->name : "NCHW reference"; }

 private:
  // What the fast path prepares per op at load: packed weights and kernel choices.
  struct FastOp {
    std::vector<PackedWeights> packed;       // conv (per group) and linear GEMM weights, NHWC k order
    std::vector<int32_t> depthwise_weights;  // [k·k][channels] for the depthwise kernels
    std::shared_ptr<const void> depthwise_prepared;  // the table's prepare_depthwise, or null
    bool depthwise = false;      // one input and one output channel per group, codes out
    bool direct = false;         // 1x1, stride 1, no padding, channels % 4 == 0: GEMM on the activation itself
    // A KxK convolution over few channels (the stems): GEMMs over runs of the padded image
    // (kernel_table.hpp: gemm_segmented), each kernel row's window padded to segment_bytes.
    bool segmented = false;
    int64_t segment_bytes = 0;
    bool vector_requant = false;  // every channel's multiplier fits the vector requantization
    // The table for this op's non-GEMM kernels: the executor's, or the scalar one where the
    // vector kernels cannot take the op (multipliers, channel counts).
    const KernelTable* kernels = nullptr;
  };

  // Runs layer by layer over a slice of the batch (so linear layers are one GEMM over the
  // batch rows and a 1x1 convolution one GEMM over every pixel of every image), each layer
  // split over the threads. Activations are NHWC on the fast path, NCHW on the reference.
  Tensor run_codes_contiguous(const uint8_t* codes, int64_t batch) const;
  void run_chunk(const uint8_t* codes, int64_t batch, float* logits, std::vector<uint8_t*> buffers,
                 std::vector<double>* op_seconds = nullptr, const OpObserver* observe = nullptr) const;
  // Op `index`'s output codes (the current activation after it) as a u8 tensor in the
  // program's NCHW layout, for run_with_op_outputs.
  Tensor op_output_codes(size_t index, const uint8_t* activation, int64_t batch) const;
  void run_conv_reference(size_t index, const uint8_t* in, int64_t batch, uint8_t* out, float* logits) const;
  void run_conv_fast(size_t index, const uint8_t* in, int64_t batch, uint8_t* out, float* logits) const;
  void run_depthwise_fast(size_t index, const uint8_t* in, int64_t batch, uint8_t* out) const;
  void run_conv_segmented(size_t index, const uint8_t* in, int64_t batch, uint8_t* out) const;
  void run_linear(size_t index, const uint8_t* in, int64_t batch, uint8_t* out, float* logits) const;
  void run_pool(size_t index, const uint8_t* in, int64_t batch, uint8_t* out) const;
  void run_add(size_t index, const uint8_t* in, const uint8_t* saved, int64_t batch, uint8_t* out) const;
  // One output value: acc (bias included) → a code, or a float logit when the op has output scales.
  void finish(const Op& op, int64_t channel, int32_t acc, uint8_t* code, float* logit) const;
  ChannelRequant channel_requant(const Op& op, int64_t first_channel = 0) const;
  // The 2 + max_saved_ activation buffers run_chunk uses, for `examples` at a time.
  std::vector<Tensor> activation_buffers(int64_t examples, std::vector<uint8_t*>& pointers) const;
  // Input codes checked against the program's input shape: contiguous [N, C, H, W].
  Tensor checked_codes(const Tensor& codes) const;
  // Float input checked against the program's input shape and quantized to its input codes.
  Tensor quantized_input(const Tensor& input) const;

  Program program_;
  const KernelTable* kernels_ = nullptr;  // the fast path's table (activations NHWC), or the NCHW reference
  std::vector<FastOp> fast_;  // per op, on the fast path
  int64_t max_activation_ = 0;  // elements per example, planned at load
  int64_t max_saved_ = 0;       // deepest stack of saved activations
};

}  // namespace intrain::int8
