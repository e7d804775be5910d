#pragma once
// Charts as inline SVG text, so a report page needs no script, font or server: line charts
// (training curves), horizontal grouped bar charts (per-layer SQNR, sensitivity), histograms
// with vertical range markers (weights and activations against their quantization grid) and
// a heatmap (confusion matrix). Every chart carries data-* attributes saying what it drew
// (points, bars, bins, cells), so a test can check the page without a browser; every text
// is HTML-escaped here.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace intrain::report {

// `text` with & < > " ' replaced by entities: safe inside elements and quoted attributes.
std::string escape_html(std::string_view text);

// One curve: x and y of equal length; non-finite points are left out (and counted so).
struct Series {
  std::string name, colour;  // colour: "#rrggbb"
  std::vector<double> x, y;
};
struct LineChart {
  std::string id, title, x_label, y_label;
  std::vector<Series> series;
};
std::string line_chart(const LineChart& chart);

// Bars grouped by label: series[s].values[i] is the bar of labels[i] in series s. A NaN
// value draws no bar ("n/a"); +inf draws a full-length bar labelled "inf".
struct BarSeries {
  std::string name, colour;
  std::vector<double> values;
};
struct BarChart {
  std::string id, title, value_label;
  std::vector<std::string> labels;
  std::vector<BarSeries> series;
};
std::string bar_chart(const BarChart& chart);

// Counts of equal-width bins over [lo, hi], and vertical lines at given values.
struct Marker {
  double x = 0;
  std::string label, colour;
};
struct HistogramChart {
  std::string id, title, colour;
  double lo = 0, hi = 1;
  std::vector<int64_t> counts;
  std::vector<Marker> markers;
  bool log_counts = false;  // bar heights ∝ log(1 + count): a spike at 0 leaves the rest visible
};
std::string histogram_chart(const HistogramChart& chart);

// cells[row][column] as squares shaded from white to `colour` (the largest count exactly
// `colour`), each holding its count.
struct Heatmap {
  std::string id, title, colour, row_label, column_label;
  std::vector<std::string> labels;
  std::vector<std::vector<int64_t>> cells;
};
std::string heatmap(const Heatmap& chart);

}  // namespace intrain::report
