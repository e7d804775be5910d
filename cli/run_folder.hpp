#pragma once
// Where a run writes its checkpoints and metrics, so runs never mix: by default a folder
// named after the model and dataset (a numbered sibling when that one holds an earlier run);
// an explicit --out that holds another run is refused unless --resume continues it or
// --overwrite replaces it.
#include <string>

namespace intrain::cli {

// "runs/<model>-<dataset>", e.g. runs/lenet-mnist, runs/mobilenet_v1-w0.5-imagenet-sample:
// the model's name (with its width when not 1) and the dataset's (an image folder's last
// path element), characters outside [A-Za-z0-9._-] replaced by '_'.
std::string default_run_folder(const std::string& model, float width, const std::string& dataset);

// Whether `dir` holds files of a run (metrics, best/last/ptq checkpoints).
bool holds_run(const std::string& dir);

// The folder to write to. `out`: --out, or the default name when `out_given` is false;
// `resume`: the checkpoint being continued (its folder is the default then). Refuses a
// given folder holding another run, or replaces it (saying so) with `overwrite`; moves a
// default one to "<out>-2", "<out>-3", ... (saying so).
std::string claim_run_folder(const std::string& out, bool out_given, const std::string& resume, bool overwrite);

}  // namespace intrain::cli
