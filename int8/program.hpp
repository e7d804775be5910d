#pragma once
// An integer-only program: the network as a flat list of integer ops with their packed
// weights and requantization constants, the input's quantization, and the float scales of
// the output. Activations between ops are uint8 codes with a zero point.
//
// On disk a program is a safetensors file (so any safetensors reader can list it): the
// weights and constants as tensors named "op<i>.<what>" (sub-8-bit weights packed, two or
// four codes to a byte), and the graph as JSON in the metadata ("intrain_int8_program",
// versioned). Loading validates every op, shape and size.
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace intrain::int8 {

// 2: save/add ops, requantized average pooling; 3: swap; 4: the dataset, input normalization
// and class names (optional fields, refused in files of earlier versions); 5: each op's
// layer and activation scale (optional, as in 4).
constexpr int kProgramVersion = 5;

// save pushes the current activation on a stack; swap exchanges the current activation
// with the top of the stack (to run a projection shortcut on the saved input); add pops the
// top and adds it to the current one (a residual connection), requantizing both.
// The one list of op kinds: the enum, the names files use and the parser come from it.
#define INTRAIN_INT8_OP_KINDS(X) X(conv2d) X(linear) X(max_pool) X(avg_pool) X(flatten) X(save) X(add) X(swap)
#define INTRAIN_INT8_ENUM_ENTRY(name) name,
enum class OpKind { INTRAIN_INT8_OP_KINDS(INTRAIN_INT8_ENUM_ENTRY) };
#define INTRAIN_INT8_KIND_ENTRY(name) OpKind::name,
inline constexpr OpKind kOpKinds[] = {INTRAIN_INT8_OP_KINDS(INTRAIN_INT8_KIND_ENTRY)};
#undef INTRAIN_INT8_ENUM_ENTRY
#undef INTRAIN_INT8_KIND_ENTRY
const char* op_kind_name(OpKind kind);

struct Op {
  OpKind kind = OpKind::conv2d;
  Shape in_shape, out_shape;  // per example: [C, H, W] or [features]
  // conv2d / linear
  int64_t kernel = 1, stride = 1, padding = 0, groups = 1;
  int32_t input_zero_point = 0;
  Tensor weight;      // i8 [OC, IC/groups, k, k] or [OC, IC]
  Tensor bias;        // i32 [OC], in units of input_scale·weight_scale[c]
  Tensor multiplier;  // i32 [OC]: requantization M0 (quantized output); avg_pool: [1];
                      // add: [3] for the current input, the saved input and the output
  Tensor shift;       // i32, as multiplier
  int32_t saved_zero_point = 0;  // add: the zero point of the saved (shortcut) input
  int32_t output_zero_point = 0, clamp_min = 0, clamp_max = 255;
  Tensor output_scale;  // f32 [OC]: when set, the op outputs float (acc · scale[c]), the logits
  int weight_bits = 8;  // the trained bit width: files pack 4- and 2-bit codes; in memory they are int8
  // Optional, for comparing the executor with the model it came from (intrain debug-int8):
  // the dotted path of the module whose output this op's output is (for a conv with its
  // batch norm and ReLU, the ReLU: the point the fake-quantized model quantizes), and the
  // real value of one step of the output codes, x = activation_scale · (q − output_zero_point).
  // Empty and 0 when the converter did not record them; the executor never reads them.
  std::string layer;
  float activation_scale = 0;
};

struct Program {
  std::string model;
  Shape input_shape;  // per example [C, H, W]
  float input_scale = 1;
  int32_t input_zero_point = 0;
  // Optional: u8 [C, 256], the input code of each 8-bit pixel value per channel, for
  // programs that take raw pixels (see set_pixel_input).
  Tensor pixel_codes;
  // What the network was trained on, carried over from its checkpoint so intrain-infer
  // defaults to it; empty when unknown. The normalization maps [0, 1] pixels to the float
  // input (one mean and std, or one per channel); classes name the outputs in order.
  std::string dataset;
  std::vector<float> input_mean, input_std;
  std::vector<std::string> classes;
  std::vector<Op> ops;

  int64_t num_outputs() const { return ops.empty() ? 0 : shape_numel(ops.back().out_shape); }
  void validate() const;  // throws Error naming the op and what is inconsistent
};

// Lets the program take 8-bit pixels directly, as QuantLib's integerised input does: the
// network saw x = (p/255 − mean[c]) / std[c]; each pixel value's input code
// clamp(round_half_even(x / s) + z, 0, 255) is tabulated once, so running on pixels is a
// table lookup and gives exactly the codes the float input would.
void set_pixel_input(Program& program, const std::vector<float>& mean, const std::vector<float>& std);

void save_program(const std::string& path, const Program& program);
Program load_program(const std::string& path);
// The same from the bytes of a program file; `name` labels the errors.
Program parse_program(const std::string& bytes, const std::string& name);

}  // namespace intrain::int8
