#include "report/svg.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace intrain::report {

namespace {

std::string num(double v, int precision = 4) {
  char text[48];
  std::snprintf(text, sizeof text, "%.*g", precision, v);
  return text;
}
// Coordinates: one decimal is sub-pixel and keeps the page small.
std::string px(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", v);
  return text;
}

// 950, 22.8k, 1.3M: a count that fits a narrow margin.
std::string compact(int64_t n) {
  const double v = static_cast<double>(n);
  if (n < 1000) return std::to_string(n);
  if (n < 1000000) return num(v / 1e3, 3) + "k";
  return num(v / 1e6, 3) + "M";
}

struct Range {
  double lo = 0, hi = 1;
};
// Widens an empty or one-value range so scales never divide by zero.
Range padded(double lo, double hi, double fraction) {
  if (!(lo <= hi)) return {0, 1};
  if (hi - lo < 1e-12 * std::max(1.0, std::fabs(hi))) {
    const double d = std::max(std::fabs(hi) * 0.1, 1e-6);
    return {lo - d, hi + d};
  }
  const double d = (hi - lo) * fraction;
  return {lo - d, hi + d};
}

// Tick values at 1, 2 or 5 × 10^k, about `target` of them inside [lo, hi].
std::vector<double> ticks(Range r, int target, bool integers = false) {
  const double raw = std::max((r.hi - r.lo) / target, integers ? 1.0 : 0.0);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  std::vector<double> out;
  for (double t = std::ceil(r.lo / step) * step; t <= r.hi + step * 1e-9; t += step)
    out.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  return out;
}

// A linear map from data to pixels.
struct Scale {
  Range domain;
  double from, to;
  double operator()(double v) const { return from + (v - domain.lo) / (domain.hi - domain.lo) * (to - from); }
};

std::string text_at(double x, double y, std::string_view content, const char* anchor = "middle", int size = 11,
                    const char* extra = "") {
  return "<text x=\"" + px(x) + "\" y=\"" + px(y) + "\" text-anchor=\"" + anchor + "\" font-size=\"" +
         std::to_string(size) + "\"" + extra + ">" + escape_html(content) + "</text>";
}

std::string svg_open(const std::string& id, const char* kind, double width, double height, const std::string& counts) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"" + escape_html(id) + "\" class=\"chart\" data-chart=\"" + kind +
         "\" " + counts + " width=\"" + px(width) + "\" height=\"" + px(height) + "\" viewBox=\"0 0 " + px(width) + " " +
         px(height) + "\" font-family=\"sans-serif\" fill=\"#222\">";
}

std::string line(double x1, double y1, double x2, double y2, const char* colour, double width = 1,
                 const char* extra = "") {
  return "<line x1=\"" + px(x1) + "\" y1=\"" + px(y1) + "\" x2=\"" + px(x2) + "\" y2=\"" + px(y2) + "\" stroke=\"" +
         colour + "\" stroke-width=\"" + px(width) + "\"" + extra + "/>";
}

std::string rect(double x, double y, double w, double h, const std::string& fill) {
  return "<rect x=\"" + px(x) + "\" y=\"" + px(y) + "\" width=\"" + px(std::max(w, 0.0)) + "\" height=\"" +
         px(std::max(h, 0.0)) + "\" fill=\"" + escape_html(fill) + "\"/>";
}

// Grid lines and tick labels of a horizontal value axis (x) over the plot box.
std::string x_axis(const Scale& x, double top, double bottom, int target, bool integers = false) {
  std::string out;
  for (double t : ticks(x.domain, target, integers)) {
    out += line(x(t), top, x(t), bottom, "#e6e6e6");
    out += text_at(x(t), bottom + 15, num(t));
  }
  return out + line(x.from, bottom, x.to, bottom, "#444");
}
std::string y_axis(const Scale& y, double left, double right, int target) {
  std::string out;
  for (double t : ticks(y.domain, target)) {
    out += line(left, y(t), right, y(t), "#e6e6e6");
    out += text_at(left - 6, y(t) + 4, num(t), "end");
  }
  return out + line(left, y.from, left, y.to, "#444");
}

std::string legend(const std::vector<std::pair<std::string, std::string>>& entries, double x, double y) {
  std::string out;
  for (const auto& [name, colour] : entries) {
    out += rect(x, y - 9, 14, 10, colour);
    out += text_at(x + 20, y, name, "start");
    y += 18;
  }
  return out;
}

// Text longer than `limit` characters (bytes) cut with an ellipsis; the full text goes to a tooltip.
std::string shortened(const std::string& text, size_t limit) {
  if (text.size() <= limit) return text;
  return text.substr(0, limit - 1) + "\xE2\x80\xA6";
}

}  // namespace

std::string escape_html(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string line_chart(const LineChart& chart) {
  const double width = 1100, height = 300, left = 70, right = 900, top = 36, bottom = 250;
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo, y_lo = x_lo, y_hi = -x_lo;
  int64_t points = 0;
  bool integer_x = true;  // epochs: no tick at 1.5
  for (const Series& s : chart.series)
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      integer_x = integer_x && s.x[i] == std::floor(s.x[i]);
      x_lo = std::min(x_lo, s.x[i]), x_hi = std::max(x_hi, s.x[i]);
      y_lo = std::min(y_lo, s.y[i]), y_hi = std::max(y_hi, s.y[i]);
      ++points;
    }
  const Scale x{padded(x_lo, x_hi, 0.02), left, right}, y{padded(y_lo, y_hi, 0.06), bottom, top};
  std::string out = svg_open(chart.id, "line", width, height,
                             "data-series=\"" + std::to_string(chart.series.size()) + "\" data-points=\"" +
                                 std::to_string(points) + "\"");
  out += text_at(left, 20, chart.title, "start", 14, " font-weight=\"bold\"");
  if (points == 0) return out + text_at((left + right) / 2, (top + bottom) / 2, "no finite values") + "</svg>";
  out += x_axis(x, top, bottom, 8, integer_x) + y_axis(y, left, right, 5);
  out += text_at((left + right) / 2, height - 12, chart.x_label);
  out += "<text transform=\"translate(16," + px((top + bottom) / 2) + ") rotate(-90)\" text-anchor=\"middle\" font-size=\"11\">" +
         escape_html(chart.y_label) + "</text>";
  std::vector<std::pair<std::string, std::string>> entries;
  for (const Series& s : chart.series) {
    std::string path, dots;
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      path += px(x(s.x[i])) + "," + px(y(s.y[i])) + " ";
      dots += "<circle cx=\"" + px(x(s.x[i])) + "\" cy=\"" + px(y(s.y[i])) + "\" r=\"4\"/>";
    }
    const std::string colour = escape_html(s.colour);
    out += "<polyline points=\"" + path + "\" fill=\"none\" stroke=\"" + colour + "\" stroke-width=\"2.5\"/>";
    out += "<g fill=\"" + colour + "\">" + dots + "</g>";
    entries.emplace_back(s.name, s.colour);
  }
  return out + legend(entries, right + 24, top + 10) + "</svg>";
}

std::string bar_chart(const BarChart& chart) {
  const double width = 1100, left = 240, right = 1020, top = chart.series.size() > 1 ? 56 : 36;
  const double bar = 13, group = bar * static_cast<double>(chart.series.size()) + 7;
  const double bottom = top + group * static_cast<double>(chart.labels.size()) + 4, height = bottom + 40;
  double lo = 0, hi = 0;
  for (const BarSeries& s : chart.series)
    for (double v : s.values)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  // Room past the longest bars for their value labels; none on a side with no bars.
  Range span = padded(lo, hi, 0.06);
  if (lo == 0) span.lo = 0;
  if (hi == 0 && lo < 0) span.hi = 0;
  const Scale x{span, left, right};
  std::string bars;
  int64_t drawn = 0;
  for (size_t i = 0; i < chart.labels.size(); ++i) {
    const double group_top = top + group * static_cast<double>(i) + 4;
    bars += "<g><title>" + escape_html(chart.labels[i]) + "</title>" +
            text_at(left - 8, group_top + group / 2, shortened(chart.labels[i], 34), "end") + "</g>";
    for (size_t s = 0; s < chart.series.size(); ++s) {
      const double v = i < chart.series[s].values.size() ? chart.series[s].values[i] : std::nan("");
      const double y = group_top + bar * static_cast<double>(s);
      if (std::isnan(v)) {
        bars += text_at(x(0) + 4, y + bar - 3, "n/a", "start", 10);
        continue;
      }
      const double end = std::isinf(v) ? (v > 0 ? right : left) : x(v);
      bars += rect(std::min(x(0), end), y, std::fabs(end - x(0)), bar - 1, chart.series[s].colour);
      const double label_x = v >= 0 ? std::min(end + 4, right - 30) : std::max(end - 4, left + 30);
      bars += text_at(label_x, y + bar - 3, std::isinf(v) ? "inf" : num(v, 3), v >= 0 ? "start" : "end", 10);
      ++drawn;
    }
  }
  std::string out = svg_open(chart.id, "bar", width, height,
                             "data-bars=\"" + std::to_string(drawn) + "\" data-labels=\"" +
                                 std::to_string(chart.labels.size()) + "\"");
  out += text_at(20, 20, chart.title, "start", 14, " font-weight=\"bold\"");
  if (chart.series.size() > 1) {
    double lx = left;
    for (const BarSeries& s : chart.series) {
      out += rect(lx, 31, 14, 10, s.colour) + text_at(lx + 20, 40, s.name, "start");
      lx += 30 + 7.0 * static_cast<double>(s.name.size());
    }
  }
  out += x_axis(x, top, bottom, 8) + line(x(0), top, x(0), bottom, "#444");
  out += bars + text_at((left + right) / 2, height - 10, chart.value_label);
  return out + "</svg>";
}

std::string histogram_chart(const HistogramChart& chart) {
  const double width = 360, height = 190, left = 46, right = 350, top = 46, bottom = 156;
  int64_t most = 0, filled = 0;
  for (int64_t c : chart.counts) most = std::max(most, c), filled += c > 0;
  const auto height_of = [&](int64_t c) {
    if (most == 0) return 0.0;
    return chart.log_counts ? std::log1p(static_cast<double>(c)) / std::log1p(static_cast<double>(most))
                            : static_cast<double>(c) / static_cast<double>(most);
  };
  const Scale x{padded(chart.lo, chart.hi, 0.0), left, right};
  std::string out = svg_open(chart.id, "histogram", width, height,
                             "data-bins=\"" + std::to_string(filled) + "\" data-markers=\"" +
                                 std::to_string(chart.markers.size()) + "\"");
  out += text_at(left, 14, shortened(chart.title, 52), "start", 12, " font-weight=\"bold\"");
  out += x_axis(x, top, bottom, 4);
  out += line(left, top, left, bottom, "#444");
  out += text_at(left - 6, top + 8, chart.log_counts ? "log" : compact(most), "end", 9);
  const double bin = (right - left) / static_cast<double>(std::max<size_t>(1, chart.counts.size()));
  out += "<g fill=\"" + escape_html(chart.colour) + "\">";
  for (size_t i = 0; i < chart.counts.size(); ++i) {
    if (chart.counts[i] == 0) continue;
    const double h = std::max(1.0, height_of(chart.counts[i]) * (bottom - top));
    out += "<rect x=\"" + px(left + bin * static_cast<double>(i)) + "\" y=\"" + px(bottom - h) + "\" width=\"" +
           px(std::max(1.0, bin - 0.5)) + "\" height=\"" + px(h) + "\"/>";
  }
  out += "</g>";
  for (size_t m = 0; m < chart.markers.size(); ++m) {
    const Marker& mk = chart.markers[m];
    const double mx = std::clamp(x(mk.x), left, right);
    const std::string colour = escape_html(mk.colour);
    out += line(mx, top - 4, mx, bottom, colour.c_str(), 2, " stroke-dasharray=\"5,3\"");
    // Pairs of markers (a range's low and high end): labels inside the pair, so the chart's
    // edges never cut them; one row up per pair.
    out += text_at(m % 2 == 0 ? mx + 3 : mx - 3, top - 6 - 10.0 * static_cast<double>(m / 2), mk.label,
                   m % 2 == 0 ? "start" : "end", 9);
  }
  return out + "</svg>";
}

std::string heatmap(const Heatmap& chart) {
  const size_t n = chart.cells.size();
  const double cell = std::clamp(520.0 / static_cast<double>(std::max<size_t>(1, n)), 12.0, 46.0);
  const double left = 120, top = 64, size = cell * static_cast<double>(n);
  const double width = left + size + 30, height = top + size + 40;
  int64_t most = 0, total = 0;
  for (const auto& row : chart.cells)
    for (int64_t c : row) most = std::max(most, c), total += c;
  unsigned r = 0, g = 0, b = 0;
  std::sscanf(chart.colour.c_str(), "#%02x%02x%02x", &r, &g, &b);
  std::string out = svg_open(chart.id, "heatmap", width, height,
                             "data-cells=\"" + std::to_string(n * n) + "\" data-classes=\"" + std::to_string(n) +
                                 "\" data-total=\"" + std::to_string(total) + "\"");
  out += text_at(20, 20, chart.title, "start", 14, " font-weight=\"bold\"");
  out += text_at(left + size / 2, 42, chart.column_label);
  out += "<text transform=\"translate(16," + px(top + size / 2) + ") rotate(-90)\" text-anchor=\"middle\" font-size=\"11\">" +
         escape_html(chart.row_label) + "</text>";
  for (size_t i = 0; i < n; ++i) {
    const std::string name = i < chart.labels.size() ? chart.labels[i] : std::to_string(i);
    out += text_at(left - 6, top + cell * (static_cast<double>(i) + 0.5) + 4, shortened(name, 14), "end", 10);
    out += text_at(left + cell * (static_cast<double>(i) + 0.5), top - 6, shortened(name, cell >= 30 ? 5 : 2), "middle", 10);
  }
  for (size_t row = 0; row < n; ++row)
    for (size_t col = 0; col < n; ++col) {
      const int64_t c = col < chart.cells[row].size() ? chart.cells[row][col] : 0;
      // sqrt: a handful of mistakes next to thousands of right answers still shows.
      const double t = most > 0 ? std::sqrt(static_cast<double>(c) / static_cast<double>(most)) : 0;
      const auto mix = [t](unsigned end) { return static_cast<unsigned>(std::lround(255 + (end - 255.0) * t)); };
      char fill[8];
      std::snprintf(fill, sizeof fill, "#%02x%02x%02x", mix(r), mix(g), mix(b));
      const double x = left + cell * static_cast<double>(col), y = top + cell * static_cast<double>(row);
      out += "<g><title>" + escape_html(std::to_string(c)) + "</title>" + rect(x, y, cell - 1, cell - 1, fill);
      if (cell >= 22)
        out += text_at(x + cell / 2, y + cell / 2 + 4, std::to_string(c), "middle", 10,
                       t > 0.55 ? " fill=\"#ffffff\"" : "");
      out += "</g>";
    }
  return out + "</svg>";
}

}  // namespace intrain::report
