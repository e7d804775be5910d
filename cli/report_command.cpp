// intrain report RUN_DIR: one self-contained HTML page of a run (report/html_page.hpp),
// filled from what the folder holds: metrics.jsonl, a fake-quantized checkpoint (ptq.safetensors,
// a QAT run's best.safetensors, or one in a subfolder, e.g. RUN_DIR/ptq/), sensitivity.json,
// int8-debug.json and eval.json. What the page computes (SQNR, histograms, the confusion
// matrix when no eval.json has it) runs on the test split the checkpoint records.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.hpp"
#include "cli/data_settings.hpp"
#include "cli/limits.hpp"
#include "cli/model_loading.hpp"
#include "data/named_datasets.hpp"
#include "quant/report.hpp"
#include "report/html_page.hpp"
#include "report/quant_histograms.hpp"
#include "report/run_files.hpp"
#include "train/trainer.hpp"

namespace intrain::cli {

namespace {

namespace fs = std::filesystem;

struct ReportArgs {
  std::string run_dir, out, checkpoint, model;
  DataFlags data;
  int64_t images = 256;
  int bins = 64;
};

bool is_quantized(const fs::path& file) {
  return fs::is_regular_file(file) && !train::read_checkpoint_state(file.string()).quant_config.empty();
}

// The fake-quantized checkpoint the page describes: the run's own (ptq.safetensors, or a QAT
// run's best/last), else the first in a subfolder (ptq --out RUN_DIR/ptq keeps the float
// run's files); empty when there is none.
std::string find_quantized(const fs::path& dir) {
  for (const char* name : {"ptq.safetensors", "best.safetensors", "last.safetensors"})
    if (is_quantized(dir / name)) return (dir / name).string();
  std::vector<fs::path> subfolders;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_directory()) subfolders.push_back(entry.path());
  std::sort(subfolders.begin(), subfolders.end());
  for (const fs::path& sub : subfolders)
    for (const char* name : {"ptq.safetensors", "best.safetensors", "last.safetensors"})
      if (is_quantized(sub / name)) return (sub / name).string();
  return "";
}

std::string find_float(const fs::path& dir) {
  for (const char* name : {"best.safetensors", "last.safetensors"}) {
    const fs::path file = dir / name;
    if (fs::is_regular_file(file) && !is_quantized(file)) return file.string();
  }
  return "";
}

// `name` in the run folder, else beside the quantized checkpoint; empty when in neither.
std::string find_file(const fs::path& dir, const std::string& quantized, const char* name) {
  if (fs::is_regular_file(dir / name)) return (dir / name).string();
  if (!quantized.empty()) {
    const fs::path beside = fs::path(quantized).parent_path() / name;
    if (fs::is_regular_file(beside)) return beside.string();
  }
  return "";
}

// The first `images` test images of the checkpoint's dataset (fewer for large images), as
// quant-report takes them.
Tensor report_batch(const data::DatasetPtr& test_set, int64_t images) {
  data::DataLoader loader(test_set, {data::evaluation_batch_size(*test_set, images, int64_t{1} << 21), false, 0, false, 0, 1});
  loader.start_epoch(0);
  data::Batch batch;
  INTRAIN_CHECK(loader.next(batch), "report: the test split gave no images");
  return batch.images;
}

void add_quantized_sections(report::RunReport& r, const ReportArgs& a, const std::string& checkpoint) {
  LoadedModel quantized = load_model(a.model, checkpoint);
  nn::ModulePtr reference = load_float_weights(a.model, checkpoint);
  const DataSettings settings = resolve_data(a.data, quantized.state, checkpoint);
  auto test_set = data::make_dataset(settings.dataset, data::Split::test, settings.options);
  check_images_fit(*reference, *test_set, quantized.state, settings.dataset, checkpoint);
  const Tensor batch = report_batch(test_set, a.images);
  const std::string on = std::to_string(batch.size(0)) + " " + settings.dataset + " test images";
  r.facts.emplace_back("quantized checkpoint", checkpoint);
  r.facts.emplace_back("quantization", quantized.state.quant_config);
  r.sqnr = quant::quant_report(*reference, *quantized.model, quantized.layers, batch);
  r.sqnr_source = checkpoint + " on " + on;
  quantized.model->eval();
  r.weight_histograms = report::weight_histograms(*quantized.model, a.bins);
  r.activation_histograms = report::activation_histograms(*quantized.model, batch, a.bins);
  r.histograms_source = checkpoint + "; activations on " + on;
}

void add_confusion(report::RunReport& r, const ReportArgs& a, const fs::path& dir, const std::string& quantized,
                   const std::string& float_checkpoint) {
  const std::string eval_file = find_file(dir, quantized, "eval.json");
  if (!eval_file.empty()) {
    const report::Evaluation e = report::read_evaluation(eval_file);
    if (!e.confusion.empty()) {
      r.confusion = report::Confusion{eval_file + " (" + e.checkpoint + " on " + e.dataset + ")", {}, e.confusion};
      return;
    }
  }
  const std::string checkpoint = quantized.empty() ? float_checkpoint : quantized;
  if (checkpoint.empty()) {
    r.confusion_missing = "No checkpoint in " + dir.string() +
                          " to evaluate, and no eval.json: `intrain eval --checkpoint CKPT --json --confusion-matrix > " +
                          (dir / "eval.json").string() + "` writes one.";
    return;
  }
  LoadedModel loaded = load_model(a.model, checkpoint);
  const DataSettings settings = resolve_data(a.data, loaded.state, checkpoint);
  auto test_set = data::make_dataset(settings.dataset, data::Split::test, settings.options);
  check_images_fit(*loaded.model, *test_set, loaded.state, settings.dataset, checkpoint);
  data::DataLoader loader(test_set, {data::evaluation_batch_size(*test_set), false, 0, false, 1, 2});
  const train::EvalResult result = train::evaluate(*loaded.model, loader);
  std::vector<std::string> classes = loaded.state.classes;
  if (classes.size() != result.confusion.size()) {
    classes.clear();
    for (size_t c = 0; c < result.confusion.size(); ++c) classes.push_back(std::to_string(c));
  }
  r.confusion = report::Confusion{checkpoint + " on the " + settings.dataset + " test split", classes, result.confusion};
}

void run(const ReportArgs& a) {
  const fs::path dir = a.run_dir;
  INTRAIN_CHECK(fs::is_directory(dir), "report: '", a.run_dir, "' is not a folder (pass a run folder, e.g. runs/lenet-mnist)");
  const std::string out = a.out.empty() ? (dir / "report.html").string() : a.out;
  report::RunReport r;
  r.title = "intrain report: " + a.run_dir;
  r.facts.emplace_back("run folder", fs::absolute(dir).lexically_normal().string());

  const fs::path metrics = dir / "metrics.jsonl";
  if (fs::is_regular_file(metrics))
    r.metrics = report::read_metrics(metrics.string());
  else
    r.metrics_missing = "No metrics.jsonl in " + a.run_dir + ": `intrain train --out " + a.run_dir +
                        "` (or qat --out) writes one line per epoch.";

  const std::string float_checkpoint = find_float(dir);
  if (!float_checkpoint.empty()) {
    const train::RunState s = train::read_checkpoint_state(float_checkpoint);
    r.facts.emplace_back("float checkpoint", float_checkpoint);
    r.facts.emplace_back("model", s.model_name);
    r.facts.emplace_back("dataset", s.dataset);
    char trained[64];
    std::snprintf(trained, sizeof trained, "%lld, %.2f%%", static_cast<long long>(s.epoch), 100 * s.best_accuracy);
    r.facts.emplace_back("its epoch, best held-out accuracy", trained);
  }
  const std::string quantized = !a.checkpoint.empty() ? a.checkpoint : find_quantized(dir);
  if (!quantized.empty()) {
    add_quantized_sections(r, a, quantized);
  } else {
    const std::string ptq = "`intrain ptq --checkpoint " + (float_checkpoint.empty() ? "CKPT" : float_checkpoint) + " --out " +
                            (dir / "ptq").string() + "`";
    r.sqnr_missing = "No fake-quantized checkpoint in " + a.run_dir + " or its subfolders: " + ptq +
                     " writes one (or pass --checkpoint).";
    r.histograms_missing = r.sqnr_missing;
  }

  const std::string sensitivity = find_file(dir, quantized, "sensitivity.json");
  if (!sensitivity.empty())
    r.sensitivity = report::read_sensitivity(sensitivity);
  else
    r.sensitivity_missing = "No sensitivity.json in " + a.run_dir +
                            (quantized.empty() ? "" : " or beside " + quantized) +
                            ": `intrain sensitivity --checkpoint " + (float_checkpoint.empty() ? "CKPT" : float_checkpoint) +
                            " --out " + a.run_dir + "` measures each layer quantized alone.";
  const std::string int8 = find_file(dir, quantized, "int8-debug.json");
  if (!int8.empty())
    r.int8_debug = report::read_int8_debug(int8);
  else
    r.int8_missing = "No int8-debug.json in " + a.run_dir + (quantized.empty() ? "" : " or beside " + quantized) +
                     ": `intrain convert` the quantized checkpoint, then `intrain debug-int8 --program PROGRAM "
                     "--checkpoint CKPT --out " + a.run_dir + "` compares the integer executor with float op by op.";

  add_confusion(r, a, dir, quantized, float_checkpoint);
  report::write_page(out, report::render_page(r));
  std::string sections;
  const std::pair<const char*, bool> present[] = {
      {"curves", r.metrics.has_value()},        {"sqnr", r.sqnr.has_value()},
      {"sensitivity", r.sensitivity.has_value()}, {"int8", r.int8_debug.has_value()},
      {"histograms", !r.weight_histograms.empty() || !r.activation_histograms.empty()},
      {"confusion", r.confusion.has_value()}};
  for (const auto& [name, here] : present)
    if (here) sections += (sections.empty() ? "" : ", ") + std::string(name);
  std::printf("wrote %s (%s)\n", out.c_str(), sections.empty() ? "no section had data" : sections.c_str());
}

}  // namespace

void add_report_command(CLI::App& app) {
  auto args = std::make_shared<ReportArgs>();
  CLI::App* cmd = app.add_subcommand("report", "write a run folder's report page: one self-contained HTML file of "
                                               "curves, SQNR, sensitivity, histograms and the confusion matrix");
  cmd->add_option("run_dir", args->run_dir, "the run folder (intrain train --out, qat --out)")->required();
  cmd->add_option("--out", args->out, "the page to write (default: RUN_DIR/report.html)");
  cmd->add_option("--checkpoint", args->checkpoint,
                  "the fake-quantized checkpoint to describe (default: ptq.safetensors or a QAT run's in RUN_DIR, "
                  "else the first in a subfolder)");
  cmd->add_option("--model", args->model, "model (default: the one the checkpoint records)");
  add_data_options(cmd, args->data);
  cmd->add_option("--images", args->images, "test images for SQNR and activation histograms (fewer for large images)")
      ->capture_default_str()->check(intrain::cli_limits::kImages);
  cmd->add_option("--bins", args->bins, "bins per histogram")->capture_default_str()->check(CLI::Range(4, 1024));
  cmd->callback([args] { run(*args); });
}

}  // namespace intrain::cli
