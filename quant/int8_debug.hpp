#pragma once
// Executor-level debugging (as ONNX Runtime's qdq_loss_debug, but against the bit-exact
// int8 executor): the float model, the fake-quantized model and the int8 program run side
// by side on one batch, and every op's real integer output, dequantized as
// activation_scale · (q − output_zero_point), is compared with the float model's output at
// the same point — the module the op records as its layer (quant::convert records them).
//
//   const int8::Executor exe(int8::load_program("lenet.int8"));
//   const Int8DebugReport r = debug_int8(exe, *float_model, fake_quantized.get(), images);
//   std::printf("%s", format_int8_debug(r).c_str());
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "int8/executor.hpp"
#include "nn/module.hpp"

namespace intrain::quant {

struct Int8OpDebug {
  int64_t index = 0;
  std::string kind;   // the program's op kind: conv2d, linear, max_pool, avg_pool, flatten, save, add, swap
  std::string layer;  // the module whose output the op's output is (a conv's ReLU, a residual's sum)
  Shape shape;        // the op's output for the batch: [N, C, H, W] or [N, features]
  bool compared = false;  // false for save and swap (they move codes) and ops without a layer or scale
  // 10·log10(Σ y² / Σ (y − ŷ)²) against the float model's y at the layer; +inf when identical.
  double sqnr_db = std::numeric_limits<double>::quiet_NaN();
  double max_abs_error = std::numeric_limits<double>::quiet_NaN();
  // The fake-quantized model's output at the same layer against the same float y; NaN without one.
  double fake_quant_sqnr_db = std::numeric_limits<double>::quiet_NaN();
  // Output codes where the executor and the fake-quantized model differ (fraction), and by
  // how many steps at most: what the two SQNR columns' difference comes from (NaN for logits).
  double code_mismatch = 0;
  int64_t max_code_step = 0;
  std::string note;  // why the two SQNRs differ by more than kSqnrTolerance, when it can tell
};

struct Int8DebugReport {
  std::vector<Int8OpDebug> ops;
  int64_t images = 0;
  std::string kernels;  // the executor's kernel table, or "NCHW reference"
  double output_sqnr_db = 0;  // the int8 logits against the float model's
};

// The agreement criterion: executor and fake-quant SQNR within this many dB.
constexpr double kSqnrTolerance = 0.5;

// `fake_quantized` may be null (a float checkpoint): the fake-quant column stays NaN.
// `float_model` and `fake_quantized` must share the program's layer names (prepare_* keeps
// the float model's). Throws an Error naming the op when a layer is missing or its output
// does not match the op's shape.
Int8DebugReport debug_int8(const int8::Executor& executor, nn::Module& float_model, nn::Module* fake_quantized,
                           const Tensor& batch);

std::string format_int8_debug(const Int8DebugReport& report);
// The report as JSON text: {"images", "kernels", "output_sqnr_db", "ops": [{"index", "kind",
// "layer", "shape", "sqnr_db", "max_abs_error", "fake_quant_sqnr_db", "code_mismatch",
// "note"}, ...]} with `labels` as string fields beside them (intrain debug-int8: "program",
// "checkpoint", "dataset"); numbers not measured (or infinite) are null.
std::string int8_debug_json(const Int8DebugReport& report, const std::map<std::string, std::string>& labels = {});

}  // namespace intrain::quant
