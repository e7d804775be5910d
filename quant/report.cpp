#include "quant/report.hpp"

#include <cmath>
#include <cstdio>
#include <limits>

#include "nn/summary.hpp"

namespace intrain::quant {

namespace {

double sqnr_db(const Tensor& reference, const Tensor& approximation) {
  const auto y = reference.to_vector<float>(), q = approximation.to_vector<float>();
  INTRAIN_CHECK(y.size() == q.size(), "quant_report: outputs differ in size");
  double signal = 0, noise = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    signal += static_cast<double>(y[i]) * y[i];
    noise += (static_cast<double>(y[i]) - q[i]) * (static_cast<double>(y[i]) - q[i]);
  }
  if (noise == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(std::max(signal, 1e-30) / noise);
}

}  // namespace

QuantReport quant_report(nn::Module& float_model, nn::Module& quantized_model, const std::vector<QuantizedLayer>& layers,
                         const Tensor& batch) {
  const auto reference = nn::capture_outputs(float_model, batch);
  const auto quantized = nn::capture_outputs(quantized_model, batch);
  QuantReport report;
  for (const QuantizedLayer& layer : layers) {
    if (layer.kind == "input") continue;
    auto r = reference.find(layer.name);
    auto q = quantized.find(layer.name);
    if (r == reference.end() || q == quantized.end()) continue;
    report.layers.push_back({layer.name, layer.kind, layer.bits, sqnr_db(r->second, q->second)});
  }
  report.output_sqnr_db = sqnr_db(reference.at(""), quantized.at(""));
  report.size = model_size(quantized_model);
  return report;
}

std::string format_report(const QuantReport& report) {
  std::string out = "layer            kind         bits   SQNR (dB)\n";
  char line[160];
  for (const LayerReport& l : report.layers) {
    std::snprintf(line, sizeof line, "%-16s %-12s %4d   %9.2f\n", l.name.c_str(), l.kind.c_str(), l.bits, l.sqnr_db);
    out += line;
  }
  std::snprintf(line, sizeof line,
                "network output SQNR: %.2f dB\nweights: %lld bytes quantized vs %lld bytes float32 (%.1f%%)\n",
                report.output_sqnr_db, static_cast<long long>(report.size.quantized_bytes),
                static_cast<long long>(report.size.float_bytes),
                100.0 * static_cast<double>(report.size.quantized_bytes) / static_cast<double>(std::max<int64_t>(1, report.size.float_bytes)));
  return out + line;
}

}  // namespace intrain::quant
