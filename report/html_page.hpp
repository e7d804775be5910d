#pragma once
// The report page of a run: one self-contained HTML file (inline SVG charts and CSS, no
// script, font or network) with the training curves, the per-layer quantization SQNR, the
// sensitivity of each layer, the integer executor's per-op SQNR, weight and activation
// histograms against their quantization ranges, and the confusion matrix. Each section is
// filled from what the run folder holds; one that has nothing says how to produce it.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "quant/report.hpp"
#include "report/histogram.hpp"
#include "report/run_files.hpp"

namespace intrain::report {

struct Confusion {
  std::string source;  // where the counts come from: "eval.json", or the checkpoint evaluated
  std::vector<std::string> classes;
  std::vector<std::vector<int64_t>> cells;  // [true][predicted]
};

struct RunReport {
  std::string title;
  std::vector<std::pair<std::string, std::string>> facts;  // shown as a table under the title
  // Each section: its data when there is some, else `*_missing` says why and how to get it.
  std::optional<Metrics> metrics;
  std::string metrics_missing;
  std::optional<quant::QuantReport> sqnr;
  std::string sqnr_source, sqnr_missing;
  std::optional<Sensitivity> sensitivity;
  std::string sensitivity_missing;
  std::optional<Int8Debug> int8_debug;
  std::string int8_missing;
  std::vector<Histogram> weight_histograms, activation_histograms;
  std::string histograms_source, histograms_missing;
  std::optional<Confusion> confusion;
  std::string confusion_missing;
};

std::string render_page(const RunReport& report);

// Writes `html` to `path` through a temporary file and a rename, so a browser showing
// the page never reads half of it.
void write_page(const std::string& path, const std::string& html);

// The colours the charts draw with (tests/report_page.sh looks for them in the rendered page).
namespace colours {
inline constexpr const char* train_loss = "#1f77b4";
inline constexpr const char* held_out_loss = "#ff7f0e";
inline constexpr const char* train_accuracy = "#2ca02c";
inline constexpr const char* held_out_accuracy = "#d62728";
inline constexpr const char* learning_rate = "#9467bd";
inline constexpr const char* sqnr = "#17becf";
inline constexpr const char* sensitivity = "#bcbd22";
inline constexpr const char* sensitivity_sqnr = "#637939";
inline constexpr const char* int8_sqnr = "#8c564b";
inline constexpr const char* int8_fake_quant_sqnr = "#9edae5";
inline constexpr const char* weights = "#e377c2";
inline constexpr const char* activations = "#e6ab02";
inline constexpr const char* range = "#c51b7d";        // the grid's ends (the widest channel's)
inline constexpr const char* narrow_range = "#4d9221"; // the narrowest channel's grid
inline constexpr const char* confusion = "#08306b";    // the largest cell; the others lighter
}  // namespace colours

}  // namespace intrain::report
