#pragma once
// Readers of the files a run folder collects, for the report page: the training metrics
// (metrics.jsonl, one JSON object per epoch), the per-layer sensitivity of `intrain
// sensitivity` (sensitivity.json), the integer executor's per-op comparison of `intrain
// debug-int8` (int8-debug.json) and an evaluation of `intrain eval --json
// --confusion-matrix` (eval.json). A file that is there but malformed is an error naming
// it and what was wrong; whether a file is there at all is the caller's question.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace intrain::report {

// The numeric fields of each line, in file order (non-numeric fields are skipped; a null,
// as JSON writes a NaN, reads as NaN).
struct Metrics {
  std::vector<std::map<std::string, double>> rows;
};
Metrics read_metrics(const std::string& path);

struct SensitivityLayer {
  std::string name;
  int weight_bits = 0, activation_bits = 0;
  int64_t weights = 0;
  double accuracy = 0, accuracy_drop = 0, output_sqnr_db = 0;  // NaN where the file has null
};
struct Sensitivity {
  std::string model, dataset, metric;
  double float_accuracy = 0;
  std::vector<SensitivityLayer> layers;
};
Sensitivity read_sensitivity(const std::string& path);

struct Int8Op {
  int64_t index = 0;
  std::string kind, layer, shape, note;
  double sqnr_db = 0, max_abs_error = 0, fake_quant_sqnr_db = 0;  // NaN where the file has null or none
};
struct Int8Debug {
  std::string program, checkpoint, kernels;
  int64_t images = 0;
  double output_sqnr_db = 0;  // the network output's; NaN when the file has null or none
  std::vector<Int8Op> ops;
};
Int8Debug read_int8_debug(const std::string& path);

struct Evaluation {
  std::string checkpoint, dataset;
  int64_t images = 0;
  double accuracy = 0;
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]; empty when the file has none
};
Evaluation read_evaluation(const std::string& path);

}  // namespace intrain::report
