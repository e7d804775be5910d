#include "quant/int8_debug.hpp"

#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "nn/layers.hpp"
#include "nn/summary.hpp"

namespace intrain::quant {

namespace {

struct Difference {
  double sqnr_db, max_abs;
};

Difference difference(const std::vector<float>& y, const std::vector<float>& q) {
  double signal = 0, noise = 0, worst = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double e = static_cast<double>(y[i]) - q[i];
    signal += static_cast<double>(y[i]) * y[i];
    noise += e * e;
    worst = std::max(worst, std::fabs(e));
  }
  if (noise == 0) return {std::numeric_limits<double>::infinity(), 0};
  return {10.0 * std::log10(std::max(signal, 1e-30) / noise), worst};
}

// Where the float model computes what the op outputs: the op's layer, except for a residual
// block whose following ReLU prepare absorbed into the quantized sum (QuantResidual): the
// float block outputs the sum before that ReLU, its next sibling the value after it.
std::string float_point(nn::Module& model, const std::string& layer) {
  for (auto& [name, m] : model.named_modules()) {
    const auto& children = m->children();
    for (size_t k = 0; k + 1 < children.size(); ++k) {
      if (nn::join_path(name, children[k].first) != layer || !dynamic_cast<nn::Residual*>(children[k].second.get()))
        continue;
      nn::Module* next = children[k + 1].second.get();
      if (dynamic_cast<nn::ReLU*>(next) || dynamic_cast<nn::ReLU6*>(next)) return nn::join_path(name, children[k + 1].first);
    }
  }
  return layer;
}

const Tensor& output_at(const std::map<std::string, Tensor>& outputs, const std::string& path, const Tensor& codes,
                        size_t index, const char* model) {
  auto found = outputs.find(path);
  INTRAIN_CHECK(found != outputs.end(), "debug_int8: op ", index, " comes from layer '", path, "', which the ", model,
                " model does not have (is the program converted from this checkpoint?)");
  INTRAIN_CHECK(found->second.numel() == codes.numel(), "debug_int8: op ", index, " outputs ", shape_str(codes.shape()),
                " but layer '", path, "' of the ", model, " model outputs ", shape_str(found->second.shape()));
  return found->second;
}

// Why the executor's SQNR differs from the fake-quantized model's at this op. Identical
// codes give identical values (both are s·(q − z)), so the difference is in the codes:
// inherited when the op's input codes differed already, else made here.
std::string explain(const int8::Op& op, const Int8OpDebug& row, double input_mismatch, int64_t at_bound, int64_t mismatched) {
  char text[400];
  if (input_mismatch > 0 && op.output_scale.defined()) {  // logits: there are no output codes to count
    std::snprintf(text, sizeof text,
                  "inherited: %.2f%% of its input codes already differ from the fake-quantized model's "
                  "(earlier ops' requantization rounding); its int32 bias is also rounded to units of "
                  "input·weight scale",
                  100 * input_mismatch);
  } else if (input_mismatch > 0) {
    std::snprintf(text, sizeof text,
                  "inherited: %.2f%% of its input codes already differ from the fake-quantized model's "
                  "(earlier ops' requantization rounding: fixed-point multipliers and int32 biases in units of "
                  "input·weight scale, against float); here %.2f%% of its outputs differ",
                  100 * input_mismatch, 100 * row.code_mismatch);
  } else if (op.output_scale.defined()) {
    std::snprintf(text, sizeof text, "logits: the int32 bias is rounded to units of input·weight scale");
  } else if (mismatched > 0 && 2 * at_bound >= mismatched) {
    std::snprintf(text, sizeof text,
                  "fused activation clipping: %.2f%% of codes differ, mostly held at the integer clamp [%d, %d] "
                  "where the fake-quantized activation rounds past it",
                  100 * row.code_mismatch, op.clamp_min, op.clamp_max);
  } else if (row.max_code_step <= 1) {
    std::snprintf(text, sizeof text,
                  "output requantization rounding: %.2f%% of codes one step off (fixed-point multiplier and int32 bias "
                  "against float rounding)",
                  100 * row.code_mismatch);
  } else {
    std::snprintf(text, sizeof text, "%.2f%% of codes differ by up to %lld steps from identical input codes",
                  100 * row.code_mismatch, static_cast<long long>(row.max_code_step));
  }
  return text;
}

}  // namespace

Int8DebugReport debug_int8(const int8::Executor& executor, nn::Module& float_model, nn::Module* fake_quantized,
                           const Tensor& batch) {
  const int8::Program& program = executor.program();
  std::vector<Tensor> outputs(program.ops.size());
  executor.run_with_op_outputs(batch, [&](size_t i, const Tensor& out) { outputs[i] = out; });
  const auto reference = nn::capture_outputs(float_model, batch);
  std::map<std::string, Tensor> fake;
  if (fake_quantized) fake = nn::capture_outputs(*fake_quantized, batch);

  Int8DebugReport report;
  report.images = outputs.back().size(0);
  report.kernels = executor.kernels_name();
  report.output_sqnr_db = difference(reference.at("").to_vector<float>(), outputs.back().to_vector<float>()).sqnr_db;
  // The fraction of codes differing from the fake-quantized model's, of the current
  // activation and of those the save ops put aside (as the executor's stack).
  double current = 0;
  std::vector<double> saved;
  for (size_t i = 0; i < program.ops.size(); ++i) {
    const int8::Op& op = program.ops[i];
    Int8OpDebug row;
    row.index = static_cast<int64_t>(i);
    row.kind = int8::op_kind_name(op.kind);
    row.layer = op.layer;
    row.shape = outputs[i].shape();
    double input_mismatch = current;
    if (op.kind == int8::OpKind::save || op.kind == int8::OpKind::swap) {
      if (op.kind == int8::OpKind::save) saved.push_back(current);
      else std::swap(current, saved.back());
      row.note = "moves codes: compared where they are used";
      report.ops.push_back(row);
      continue;
    }
    if (op.kind == int8::OpKind::add) {
      input_mismatch = std::max(current, saved.back());
      saved.pop_back();
    }
    const bool logits = op.output_scale.defined();
    if (op.layer.empty() || (!logits && op.activation_scale <= 0)) {
      row.note = "the program records no layer or scale for this op (convert it again with this intrain)";
      current = 0;
      report.ops.push_back(row);
      continue;
    }
    // The executor's values: logits as they are, codes dequantized.
    std::vector<float> values = outputs[i].to_vector<float>();
    std::vector<int32_t> codes;
    if (!logits) {
      for (float& v : values) {
        codes.push_back(static_cast<int32_t>(v));
        v = op.activation_scale * static_cast<float>(codes.back() - op.output_zero_point);
      }
    }
    const std::vector<float> y =
        output_at(reference, float_point(float_model, op.layer), outputs[i], i, "float").to_vector<float>();
    const Difference d = difference(y, values);
    row.compared = true;
    row.sqnr_db = d.sqnr_db;
    row.max_abs_error = d.max_abs;
    current = 0;
    if (fake_quantized) {
      const std::vector<float> f = output_at(fake, op.layer, outputs[i], i, "fake-quantized").to_vector<float>();
      row.fake_quant_sqnr_db = difference(y, f).sqnr_db;
      int64_t mismatched = 0, at_bound = 0;
      if (!logits) {
        for (size_t k = 0; k < f.size(); ++k) {
          // Fake-quantized values are s·(q − z) exactly, up to float rounding.
          const auto q = static_cast<int32_t>(std::lround(f[k] / op.activation_scale)) + op.output_zero_point;
          if (q == codes[k]) continue;
          ++mismatched;
          row.max_code_step = std::max<int64_t>(row.max_code_step, std::abs(q - codes[k]));
          // Clipped: the integer clamp (ReLU6 as floor(6/s) codes) holds a code the fake-quant rounds past.
          at_bound += (codes[k] == op.clamp_max && q > op.clamp_max) || (codes[k] == op.clamp_min && q < op.clamp_min);
        }
        row.code_mismatch = static_cast<double>(mismatched) / static_cast<double>(std::max<size_t>(f.size(), 1));
        current = row.code_mismatch;
      } else {
        row.code_mismatch = std::numeric_limits<double>::quiet_NaN();  // logits: no codes
      }
      const bool both_finite = std::isfinite(row.sqnr_db) && std::isfinite(row.fake_quant_sqnr_db);
      if (both_finite && std::fabs(row.sqnr_db - row.fake_quant_sqnr_db) > kSqnrTolerance)
        row.note = explain(op, row, input_mismatch, at_bound, mismatched);
    }
    report.ops.push_back(row);
  }
  return report;
}

std::string format_int8_debug(const Int8DebugReport& report) {
  char line[512];
  std::snprintf(line, sizeof line, "int8 executor (%s) against float on %lld images\n", report.kernels.c_str(),
                static_cast<long long>(report.images));
  std::string out = line;
  out += " op  kind      layer                 output shape        int8 SQNR  fake-quant  max |err|  codes off  note\n";
  for (const Int8OpDebug& r : report.ops) {
    if (!r.compared) {
      std::snprintf(line, sizeof line, "%3lld  %-8s  %-20s  %-18s  %9s  %10s  %9s  %9s  %s\n",
                    static_cast<long long>(r.index), r.kind.c_str(), r.layer.c_str(), shape_str(r.shape).c_str(), "--",
                    "--", "--", "--", r.note.c_str());
    } else {
      char fake[32] = "--", off[32] = "--";
      if (!std::isnan(r.fake_quant_sqnr_db)) std::snprintf(fake, sizeof fake, "%.2f", r.fake_quant_sqnr_db);
      if (!std::isnan(r.fake_quant_sqnr_db) && !std::isnan(r.code_mismatch))
        std::snprintf(off, sizeof off, "%.2f%%", 100 * r.code_mismatch);
      std::snprintf(line, sizeof line, "%3lld  %-8s  %-20s  %-18s  %9.2f  %10s  %9.4g  %9s  %s\n",
                    static_cast<long long>(r.index), r.kind.c_str(), r.layer.c_str(), shape_str(r.shape).c_str(),
                    r.sqnr_db, fake, r.max_abs_error, off, r.note.c_str());
    }
    out += line;
  }
  double worst = 0;  // the largest per-op difference between the two SQNR columns
  for (const Int8OpDebug& r : report.ops)
    if (r.compared && std::isfinite(r.sqnr_db) && std::isfinite(r.fake_quant_sqnr_db))
      worst = std::max(worst, std::fabs(r.sqnr_db - r.fake_quant_sqnr_db));
  std::snprintf(line, sizeof line, "network output SQNR (int8 logits vs float): %.2f dB\n", report.output_sqnr_db);
  out += line;
  std::snprintf(line, sizeof line, "largest |int8 - fake-quant| SQNR difference: %.2f dB (tolerance %.1f dB)\n", worst,
                kSqnrTolerance);
  return out + line;
}

std::string int8_debug_json(const Int8DebugReport& report, const std::map<std::string, std::string>& labels) {
  auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json ops = nlohmann::json::array();
  for (const Int8OpDebug& r : report.ops)
    ops.push_back({{"index", r.index}, {"kind", r.kind}, {"layer", r.layer}, {"shape", r.shape},
                   {"sqnr_db", number(r.sqnr_db)}, {"max_abs_error", number(r.max_abs_error)},
                   {"fake_quant_sqnr_db", number(r.fake_quant_sqnr_db)},
                   {"code_mismatch", r.compared && !std::isnan(r.fake_quant_sqnr_db) ? number(r.code_mismatch)
                                                                                    : nlohmann::json(nullptr)},
                   {"note", r.note}});
  nlohmann::json json(labels);
  json.update({{"images", report.images}, {"kernels", report.kernels}, {"output_sqnr_db", number(report.output_sqnr_db)},
               {"ops", ops}});
  return json.dump(2);
}

}  // namespace intrain::quant
