#include "report/html_page.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.hpp"
#include "report/svg.hpp"

namespace intrain::report {

namespace {

std::string num(double v, int precision = 4) {
  if (std::isnan(v)) return "n/a";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char text[48];
  std::snprintf(text, sizeof text, "%.*g", precision, v);
  return text;
}

const char* const kStyle = R"(<style>
body { font-family: sans-serif; color: #222; background: #fff; max-width: 1140px; margin: 16px auto; padding: 0 12px; }
h1 { font-size: 22px; margin: 8px 0; } h2 { font-size: 17px; margin: 26px 0 8px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 12px; margin: 6px 0; }
td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; } th { background: #f4f4f4; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.missing { color: #666; font-style: italic; } .caption { font-size: 12px; color: #444; margin: 2px 0 8px; }
.grid { display: flex; flex-wrap: wrap; gap: 6px; } .grid figure { margin: 0; }
.grid figcaption { font-size: 11px; color: #444; max-width: 360px; }
details summary { cursor: pointer; font-size: 12px; color: #444; }
</style>)";

std::string section_open(const char* id, const char* title, bool present) {
  return std::string("<section id=\"") + id + "\" data-present=\"" + (present ? "1" : "0") + "\"><h2>" +
         escape_html(title) + "</h2>\n";
}
std::string missing(const std::string& why) { return "<p class=\"missing\">" + escape_html(why) + "</p>\n"; }

// A table; no header row when `header` is empty.
std::string table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                  const std::set<size_t>& numeric) {
  std::string out = "<table>";
  if (!header.empty()) {
    out += "<tr>";
    for (const auto& h : header) out += "<th>" + escape_html(h) + "</th>";
    out += "</tr>";
  }
  for (const auto& row : rows) {
    out += "<tr>";
    for (size_t c = 0; c < row.size(); ++c)
      out += (numeric.count(c) ? "<td class=\"n\">" : "<td>") + escape_html(row[c]) + "</td>";
    out += "</tr>";
  }
  return out + "</table>\n";
}

// A long table folded away under its charts: the numbers are there, the page stays short.
std::string folded(const std::string& summary, const std::string& content) {
  return "<details><summary>" + escape_html(summary) + "</summary>" + content + "</details>\n";
}

// ---- training curves ------------------------------------------------------------------

const char* colour_of(const std::string& key, size_t fallback) {
  static const char* const palette[] = {"#393b79", "#ad494a", "#8ca252", "#7b4173", "#3182bd"};
  if (key == "train_loss") return colours::train_loss;
  if (key == "train_accuracy") return colours::train_accuracy;
  if (key == "lr") return colours::learning_rate;
  if (key.size() > 5 && key.compare(key.size() - 5, 5, "_loss") == 0) return colours::held_out_loss;
  if (key.size() > 9 && key.compare(key.size() - 9, 9, "_accuracy") == 0) return colours::held_out_accuracy;
  return palette[fallback % 5];
}

bool ends_with(const std::string& s, const char* tail) {
  const std::string t = tail;
  return s.size() > t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

std::string curves_section(const RunReport& r) {
  if (!r.metrics || r.metrics->rows.empty())
    return section_open("curves", "Training curves", false) +
           missing(r.metrics ? "metrics.jsonl holds no epoch yet." : r.metrics_missing) + "</section>\n";
  const auto& rows = r.metrics->rows;
  // The x axis: optimizer steps when every line has them, else epochs, else line numbers.
  std::string x_key = "line";
  for (const char* key : {"step", "epoch"}) {
    bool all = true;
    for (const auto& row : rows) all = all && row.count(key);
    if (all) {
      x_key = key;
      break;
    }
  }
  std::vector<double> x;
  for (size_t i = 0; i < rows.size(); ++i) x.push_back(x_key == "line" ? static_cast<double>(i + 1) : rows[i].at(x_key));
  std::set<std::string> keys;
  for (const auto& row : rows)
    for (const auto& [key, value] : row) keys.insert(key);
  LineChart loss{"loss-curve", "Loss", x_key, "cross-entropy", {}};
  LineChart accuracy{"accuracy-curve", "Top-1 accuracy", x_key, "accuracy (%)", {}};
  LineChart lr{"lr-curve", "Learning rate", x_key, "learning rate", {}};
  size_t other = 0;
  for (const std::string& key : keys) {
    LineChart* chart = ends_with(key, "_loss") ? &loss : ends_with(key, "_accuracy") ? &accuracy : key == "lr" ? &lr : nullptr;
    if (!chart) continue;
    const double factor = chart == &accuracy ? 100.0 : 1.0;
    Series s{key, colour_of(key, other++), x, {}};
    for (const auto& row : rows) {
      auto found = row.find(key);
      s.y.push_back(found == row.end() ? std::nan("") : found->second * factor);
    }
    chart->series.push_back(std::move(s));
  }
  std::string out = section_open("curves", "Training curves", true);
  out += "<p class=\"caption\">" + escape_html(std::to_string(rows.size()) + " line(s) of metrics.jsonl, by " + x_key) +
         ".</p>\n";
  for (const LineChart* chart : {&loss, &accuracy, &lr})
    if (!chart->series.empty()) out += line_chart(*chart) + "\n";
  return out + "</section>\n";
}

// ---- SQNR, sensitivity, int8 executor -------------------------------------------------

std::string sqnr_section(const RunReport& r) {
  if (!r.sqnr) return section_open("sqnr", "Per-layer SQNR (fake-quantized against float)", false) + missing(r.sqnr_missing) + "</section>\n";
  const quant::QuantReport& q = *r.sqnr;
  BarChart chart{"sqnr-bars", "SQNR of each layer's output, fake-quantized against float (higher is better)",
                 "SQNR (dB)", {}, {{"fake-quant SQNR", colours::sqnr, {}}}};
  std::vector<std::vector<std::string>> rows;
  for (const quant::LayerReport& l : q.layers) {
    chart.labels.push_back(l.name + " (" + l.kind + ", " + std::to_string(l.bits) + "b)");
    chart.series[0].values.push_back(l.sqnr_db);
    rows.push_back({l.name, l.kind, std::to_string(l.bits), num(l.sqnr_db)});
  }
  std::string out = section_open("sqnr", "Per-layer SQNR (fake-quantized against float)", true);
  out += "<p class=\"caption\">" + escape_html(r.sqnr_source) + ". Network output SQNR " + escape_html(num(q.output_sqnr_db)) +
         " dB; weights " + escape_html(std::to_string(q.size.quantized_bytes)) + " bytes quantized against " +
         escape_html(std::to_string(q.size.float_bytes)) + " bytes float32.</p>\n";
  out += bar_chart(chart) + "\n";
  return out + folded("the numbers", table({"layer", "kind", "bits", "SQNR (dB)"}, rows, {2, 3})) + "</section>\n";
}

std::string sensitivity_section(const RunReport& r) {
  if (!r.sensitivity)
    return section_open("sensitivity", "Sensitivity: one layer quantized at a time", false) + missing(r.sensitivity_missing) +
           "</section>\n";
  const Sensitivity& s = *r.sensitivity;
  // Accuracies in [0, 1] are shown as points, as everywhere else on the page.
  const bool fractions = !(s.float_accuracy > 1.0);
  const double factor = fractions ? 100.0 : 1.0;
  BarChart drop{"sensitivity-bars", "Accuracy drop with only this layer quantized (higher hurts more)",
                fractions ? "accuracy drop (points)" : "accuracy drop", {}, {{"accuracy drop", colours::sensitivity, {}}}};
  BarChart sqnr{"sensitivity-sqnr-bars", "Network output SQNR with only this layer quantized", "SQNR (dB)", {},
                {{"output SQNR", colours::sensitivity_sqnr, {}}}};
  bool any_sqnr = false, any_drop = false;
  std::vector<std::vector<std::string>> rows;
  for (const SensitivityLayer& l : s.layers) {
    const std::string label = l.name + " (W" + std::to_string(l.weight_bits) + "A" + std::to_string(l.activation_bits) + ")";
    drop.labels.push_back(label);
    sqnr.labels.push_back(label);
    drop.series[0].values.push_back(l.accuracy_drop * factor);
    sqnr.series[0].values.push_back(l.output_sqnr_db);
    any_sqnr = any_sqnr || !std::isnan(l.output_sqnr_db);
    any_drop = any_drop || !std::isnan(l.accuracy_drop);
    rows.push_back({l.name, std::to_string(l.weight_bits), std::to_string(l.activation_bits), std::to_string(l.weights),
                    num(l.accuracy * factor), num(l.accuracy_drop * factor), num(l.output_sqnr_db)});
  }
  std::string out = section_open("sensitivity", "Sensitivity: one layer quantized at a time", true);
  out += "<p class=\"caption\">sensitivity.json: " + escape_html(s.model) + " on " + escape_html(s.dataset) +
         ", metric " + escape_html(s.metric) + ", float accuracy " + escape_html(num(s.float_accuracy * factor)) + ".</p>\n";
  if (any_drop) out += bar_chart(drop) + "\n";  // a run without labels measured output SQNR only
  if (any_sqnr) out += bar_chart(sqnr) + "\n";
  return out +
         folded("the numbers", table({"layer", "weight bits", "activation bits", "weights", "accuracy", "drop", "output SQNR (dB)"},
                                     rows, {1, 2, 3, 4, 5, 6})) +
         "</section>\n";
}

std::string int8_section(const RunReport& r) {
  if (!r.int8_debug)
    return section_open("int8", "Integer executor against float, op by op", false) + missing(r.int8_missing) + "</section>\n";
  const Int8Debug& d = *r.int8_debug;
  BarChart chart{"int8-bars", "SQNR of each integer op's output against float (higher is better)", "SQNR (dB)", {},
                 {{"int8 executor", colours::int8_sqnr, {}}, {"fake-quant model", colours::int8_fake_quant_sqnr, {}}}};
  std::vector<std::vector<std::string>> rows;
  for (const Int8Op& op : d.ops) {
    chart.labels.push_back(std::to_string(op.index) + " " + op.kind + (op.layer.empty() ? "" : " " + op.layer));
    chart.series[0].values.push_back(op.sqnr_db);
    chart.series[1].values.push_back(op.fake_quant_sqnr_db);
    rows.push_back({std::to_string(op.index), op.kind, op.layer, op.shape, num(op.sqnr_db), num(op.fake_quant_sqnr_db),
                    num(op.max_abs_error), op.note});
  }
  std::string out = section_open("int8", "Integer executor against float, op by op", true);
  out += "<p class=\"caption\">int8-debug.json: program " + escape_html(d.program) + ", checkpoint " +
         escape_html(d.checkpoint) + ", " + escape_html(std::to_string(d.images)) + " images" +
         (d.kernels.empty() ? "" : ", kernels " + escape_html(d.kernels)) +
         (std::isnan(d.output_sqnr_db) ? "" : "; network output SQNR " + escape_html(num(d.output_sqnr_db)) + " dB") +
         ".</p>\n";
  out += bar_chart(chart) + "\n";
  return out +
         table({"op", "kind", "layer", "shape", "int8 SQNR (dB)", "fake-quant SQNR (dB)", "max |error|", "note"}, rows,
               {0, 4, 5, 6}) +
         "</section>\n";
}

// ---- histograms -----------------------------------------------------------------------

std::string histogram_figure(const Histogram& h, const std::string& id, const char* colour) {
  HistogramChart chart{id, h.layer + " " + h.what, colour, h.lo, h.hi, h.counts, {}, h.what == "activations"};
  for (size_t m = 0; m < h.markers.size(); ++m)
    chart.markers.push_back({h.markers[m].value, num(h.markers[m].value, 3), m < 2 ? colours::range : colours::narrow_range});
  std::string caption = h.scheme + "; values " + num(h.min, 3) + " to " + num(h.max, 3);
  if (!h.markers.empty() && h.values > 0)
    caption += "; " + num(100.0 * static_cast<double>(h.outside) / static_cast<double>(h.values), 3) + "% clipped";
  return "<figure>" + histogram_chart(chart) + "<figcaption>" + escape_html(caption) + "</figcaption></figure>\n";
}

std::string histograms_section(const RunReport& r) {
  const bool present = !r.weight_histograms.empty() || !r.activation_histograms.empty();
  if (!present)
    return section_open("histograms", "Weights and activations against their quantization ranges", false) +
           missing(r.histograms_missing) + "</section>\n";
  std::string out = section_open("histograms", "Weights and activations against their quantization ranges", true);
  out += "<p class=\"caption\">" + escape_html(r.histograms_source) +
         ". Dashed lines: the ends of the quantization grid (per-channel weights: the widest channel's in magenta, "
         "the narrowest channel's in green). Activation counts on a log scale.</p>\n";
  out += "<h3 style=\"font-size:14px\">Weights</h3><div class=\"grid\" id=\"weight-histograms\" data-count=\"" +
         std::to_string(r.weight_histograms.size()) + "\">\n";
  for (size_t i = 0; i < r.weight_histograms.size(); ++i)
    out += histogram_figure(r.weight_histograms[i], "weight-histogram-" + std::to_string(i), colours::weights);
  out += "</div><h3 style=\"font-size:14px\">Activations</h3><div class=\"grid\" id=\"activation-histograms\" data-count=\"" +
         std::to_string(r.activation_histograms.size()) + "\">\n";
  for (size_t i = 0; i < r.activation_histograms.size(); ++i)
    out += histogram_figure(r.activation_histograms[i], "activation-histogram-" + std::to_string(i), colours::activations);
  return out + "</div></section>\n";
}

std::string confusion_section(const RunReport& r) {
  if (!r.confusion || r.confusion->cells.empty())
    return section_open("confusion", "Confusion matrix", false) + missing(r.confusion_missing) + "</section>\n";
  const Confusion& c = *r.confusion;
  int64_t total = 0, right = 0;
  for (size_t i = 0; i < c.cells.size(); ++i)
    for (size_t j = 0; j < c.cells[i].size(); ++j) total += c.cells[i][j], right += i == j ? c.cells[i][j] : 0;
  std::string out = section_open("confusion", "Confusion matrix", true);
  out += "<p class=\"caption\">" + escape_html(c.source) + ": " + escape_html(std::to_string(total)) + " images, top-1 " +
         escape_html(num(total ? 100.0 * static_cast<double>(right) / static_cast<double>(total) : 0, 4)) +
         "%. Shades: square root of the count, so few mistakes still show.</p>\n";
  out += heatmap({"confusion-matrix", "Rows: true class; columns: predicted class", colours::confusion, "true class",
                  "predicted class", c.classes, c.cells});
  return out + "</section>\n";
}

}  // namespace

std::string render_page(const RunReport& r) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + escape_html(r.title) +
                    "</title>\n" + kStyle + "</head>\n<body>\n<h1>" + escape_html(r.title) + "</h1>\n";
  std::vector<std::vector<std::string>> facts;
  for (const auto& [key, value] : r.facts) facts.push_back({key, value});
  if (!facts.empty()) out += table({}, facts, {});
  out += curves_section(r) + sqnr_section(r) + sensitivity_section(r) + int8_section(r) + histograms_section(r) +
         confusion_section(r);
  return out + "</body></html>\n";
}

void write_page(const std::string& path, const std::string& html) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    INTRAIN_CHECK(out.good(), "'", path, "': cannot be written");
    out << html;
    out.flush();
    INTRAIN_CHECK(out.good(), "'", path, "': writing failed");
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  INTRAIN_CHECK(!ec, "'", path, "': cannot be written (", ec.message(), ")");
}

}  // namespace intrain::report
