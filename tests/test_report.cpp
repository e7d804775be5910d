// The report page's parts (report/): SVG charts say what they drew and escape their text,
// histograms count clipped values, the run-folder readers refuse malformed files naming
// them, and the page keeps a section for everything, saying how to fill an empty one.
#include <doctest.h>

#include <cmath>
#include <fstream>
#include <limits>

#include "expect_error.hpp"
#include "report/histogram.hpp"
#include "report/html_page.hpp"
#include "report/run_files.hpp"
#include "report/svg.hpp"
#include "temp_dir.hpp"

using namespace intrain;
using namespace intrain::report;
using intrain::testing::expect_error;
using intrain::testing::TempDir;

namespace {
void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }
int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}
}  // namespace

TEST_CASE("escape_html replaces every character that could open markup or close an attribute") {
  CHECK(escape_html("a<b>&\"c'") == "a&lt;b&gt;&amp;&quot;c&#39;");
  CHECK(escape_html("plain text 1.5") == "plain text 1.5");
}

TEST_CASE("a line chart counts its finite points and escapes names") {
  const double nan = std::nan("");
  LineChart chart{"c<1>", "loss & more", "epoch", "loss",
                  {{"train<", "#1f77b4", {1, 2, 3}, {0.5, 0.4, nan}}, {"val", "#ff7f0e", {1, 2, 3}, {0.6, 0.5, 0.45}}}};
  const std::string svg = line_chart(chart);
  CHECK(svg.find("id=\"c&lt;1&gt;\"") != std::string::npos);
  CHECK(svg.find("data-series=\"2\" data-points=\"5\"") != std::string::npos);
  CHECK(svg.find("loss &amp; more") != std::string::npos);
  CHECK(svg.find("train&lt;") != std::string::npos);
  CHECK(svg.find("train<") == std::string::npos);
  CHECK(count_of(svg, "<circle") == 5);
  CHECK(count_of(svg, "<polyline") == 2);
}

TEST_CASE("a bar chart leaves out NaN, draws infinity full length, and handles negative values") {
  BarChart chart{"b", "SQNR", "dB", {"a", "b", "c"},
                 {{"s", "#17becf", {12.5, std::nan(""), std::numeric_limits<double>::infinity()}},
                  {"t", "#9edae5", {-3, 4, 5}}}};
  const std::string svg = bar_chart(chart);
  CHECK(svg.find("data-bars=\"5\" data-labels=\"3\"") != std::string::npos);
  CHECK(svg.find(">n/a<") != std::string::npos);
  CHECK(svg.find(">inf<") != std::string::npos);
  CHECK(svg.find(">-3<") != std::string::npos);
}

TEST_CASE("a histogram spans values and markers and counts the values past the range") {
  const Histogram h = make_histogram({-2, -0.5, 0, 0.25, 0.5, 3, std::nanf("")}, {{-1, "min"}, {1, "max"}}, 8);
  CHECK(h.values == 6);  // the NaN skipped
  CHECK(h.outside == 2);  // -2 and 3 are clipped by [-1, 1]
  CHECK(h.min == -2);
  CHECK(h.max == 3);
  CHECK(h.lo < -2);
  CHECK(h.hi > 3);
  int64_t total = 0;
  for (int64_t c : h.counts) total += c;
  CHECK(total == 6);
  const std::string svg = histogram_chart({"h", "conv1 weights", "#e377c2", h.lo, h.hi, h.counts, {{-1, "-1", "#c51b7d"}, {1, "1", "#c51b7d"}}, false});
  CHECK(svg.find("data-markers=\"2\"") != std::string::npos);
  CHECK(count_of(svg, "stroke-dasharray") == 2);
}

TEST_CASE("a heatmap draws every cell, the largest in the chart's colour") {
  const std::string svg = heatmap({"m", "confusion", "#08306b", "true", "predicted", {"cat", "dog"}, {{9, 1}, {0, 4}}});
  CHECK(svg.find("data-cells=\"4\" data-classes=\"2\" data-total=\"14\"") != std::string::npos);
  CHECK(count_of(svg, "fill=\"#08306b\"") == 1);
  CHECK(count_of(svg, "fill=\"#ffffff\"/>") == 1);  // the empty cell is white
}

TEST_CASE("metrics.jsonl: numeric fields per line, nulls as NaN, a bad line named with its number") {
  TempDir dir;
  const std::string path = dir / "metrics.jsonl";
  write_file(path, "{\"epoch\":1,\"train_loss\":2.5,\"note\":\"x\"}\n\n{\"epoch\":2,\"train_loss\":null}\n");
  const Metrics m = read_metrics(path);
  REQUIRE(m.rows.size() == 2);
  CHECK(m.rows[0].at("train_loss") == 2.5);
  CHECK(m.rows[0].count("note") == 0);
  CHECK(std::isnan(m.rows[1].at("train_loss")));
  write_file(path, "{\"epoch\":1}\n{\"epoch\":2,\n");
  expect_error([&] { read_metrics(path); }, "metrics.jsonl' line 2: not valid JSON");
  expect_error([&] { read_metrics(dir / "none.jsonl"); }, "none.jsonl': cannot be read");
}

TEST_CASE("sensitivity.json and int8-debug.json: fields checked by name, nulls read as NaN") {
  TempDir dir;
  const std::string sensitivity = dir / "sensitivity.json";
  write_file(sensitivity, R"({"model":"lenet","dataset":"mnist","float_accuracy":0.99,"metric":"top1",
    "layers":[{"name":"conv1","weight_bits":4,"activation_bits":8,"weights":150,"accuracy":0.98,
               "accuracy_drop":0.01,"output_sqnr_db":null}]})");
  const Sensitivity s = read_sensitivity(sensitivity);
  REQUIRE(s.layers.size() == 1);
  CHECK(s.layers[0].name == "conv1");
  CHECK(s.layers[0].weight_bits == 4);
  CHECK(std::isnan(s.layers[0].output_sqnr_db));
  write_file(sensitivity, R"({"layers":[{"name":"conv1","weight_bits":"four"}]})");
  expect_error([&] { read_sensitivity(sensitivity); }, "sensitivity.json': layers[0]: 'weight_bits' is not an integer");
  write_file(sensitivity, R"({"layers": 3})");
  expect_error([&] { read_sensitivity(sensitivity); }, "'layers' is not an array");
  write_file(sensitivity, "{not json");
  expect_error([&] { read_sensitivity(sensitivity); }, "sensitivity.json': not valid JSON");

  const std::string int8 = dir / "int8-debug.json";
  write_file(int8, R"({"program":"p","checkpoint":"c","images":8,"ops":[{"index":3,"kind":"conv","layer":"conv1",
    "shape":[8,6,24,24],"sqnr_db":30.5,"max_abs_error":0.1,"fake_quant_sqnr_db":null,"note":"n"}]})");
  const Int8Debug d = read_int8_debug(int8);
  REQUIRE(d.ops.size() == 1);
  CHECK(d.ops[0].index == 3);
  CHECK(d.ops[0].shape == "[8,6,24,24]");
  CHECK(std::isnan(d.ops[0].fake_quant_sqnr_db));
  write_file(int8, R"({"ops":[{"kind":"conv"}]})");
  expect_error([&] { read_int8_debug(int8); }, "int8-debug.json': ops[0]: no field 'sqnr_db'");
}

TEST_CASE("eval.json: the confusion matrix must be square counts") {
  TempDir dir;
  const std::string path = dir / "eval.json";
  write_file(path, R"({"checkpoint":"c","dataset":"mnist","images":3,"top1_accuracy":0.5,"confusion_matrix":[[1,0],[1,1]]})");
  CHECK(read_evaluation(path).confusion == std::vector<std::vector<int64_t>>{{1, 0}, {1, 1}});
  write_file(path, R"({"confusion_matrix":[[1,0],[1]]})");
  expect_error([&] { read_evaluation(path); }, "confusion_matrix row 1 is not an array of 2 counts");
  write_file(path, R"({"confusion_matrix":[[1,-2],[1,1]]})");
  expect_error([&] { read_evaluation(path); }, "not a count");
}

TEST_CASE("the page keeps every section, escapes what it shows, and says how to fill empty ones") {
  RunReport r;
  r.title = "run <x>";
  r.metrics = Metrics{{{{"epoch", 1}, {"train_loss", 1.0}, {"val_accuracy", 0.5}, {"lr", 0.1}},
                       {{"epoch", 2}, {"train_loss", 0.5}, {"val_accuracy", 0.7}, {"lr", 0.05}}}};
  r.sqnr_missing = "no <quantized> checkpoint";
  r.sensitivity_missing = r.int8_missing = r.histograms_missing = "missing";
  r.confusion = Confusion{"eval.json", {"a", "b"}, {{3, 1}, {0, 2}}};
  const std::string html = render_page(r);
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.find("<title>run &lt;x&gt;</title>") != std::string::npos);
  for (const char* id : {"curves", "confusion"})
    CHECK(html.find(std::string("id=\"") + id + "\" data-present=\"1\"") != std::string::npos);
  for (const char* id : {"sqnr", "sensitivity", "int8", "histograms"})
    CHECK(html.find(std::string("id=\"") + id + "\" data-present=\"0\"") != std::string::npos);
  CHECK(html.find("no &lt;quantized&gt; checkpoint") != std::string::npos);
  CHECK(html.find("id=\"loss-curve\"") != std::string::npos);
  CHECK(html.find("id=\"accuracy-curve\"") != std::string::npos);
  CHECK(html.find("id=\"lr-curve\"") != std::string::npos);
  CHECK(html.find("<script") == std::string::npos);

  TempDir dir;
  write_page(dir / "report.html", html);
  std::ifstream in(dir / "report.html");
  const std::string back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(back == html);
  expect_error([&] { write_page(dir / "no/such/folder/report.html", html); }, "cannot be written");
}
