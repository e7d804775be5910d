#include "cli/run_folder.hpp"

#include <cstdio>
#include <filesystem>

#include "core/error.hpp"
#include "train/checkpoint.hpp"

namespace intrain::cli {

namespace fs = std::filesystem;

namespace {

const char* const kRunFiles[] = {"metrics.jsonl", "metrics.csv", "last.safetensors", "best.safetensors", "ptq.safetensors"};

std::string sanitized(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                       c == '_' || c == '-';
    out += plain ? c : '_';
  }
  while (!out.empty() && out.front() == '.') out.erase(out.begin());  // never "..", never hidden
  return out.empty() ? "run" : out;
}

// One line on what the folder holds, from its newest checkpoint when one is readable.
std::string describe_run(const std::string& dir) {
  for (const char* name : {"last.safetensors", "ptq.safetensors", "best.safetensors"}) {
    const fs::path file = fs::path(dir) / name;
    if (!fs::exists(file)) continue;
    try {
      const train::RunState s = train::read_checkpoint_state(file.string());
      std::string text = s.model_name.empty() ? "a model" : s.model_name;
      if (!s.dataset.empty()) text += " on " + s.dataset;
      if (s.epoch > 0) text += ", " + std::to_string(s.epoch) + " epoch(s)";
      return text;
    } catch (const std::exception&) {
      return std::string("an unreadable ") += name;
    }
  }
  return "metrics of a run";
}

void remove_run_files(const std::string& dir) {
  std::error_code ec;
  for (const char* name : kRunFiles) fs::remove(fs::path(dir) / name, ec);
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if ((name.rfind("best.optimizer-", 0) == 0 || name.rfind("last.optimizer-", 0) == 0) &&
        entry.path().extension() == ".safetensors")
      fs::remove(entry.path(), ec);
  }
}

}  // namespace

std::string default_run_folder(const std::string& model, float width, const std::string& dataset) {
  std::string model_part = model.substr(0, model.find(':'));
  if (model.rfind("onnx:", 0) == 0) {
    model_part = "onnx-";
    model_part += fs::path(model.substr(5)).stem().string();
  }
  if (width != 1.0f) {
    char w[32];
    std::snprintf(w, sizeof w, "-w%g", static_cast<double>(width));
    model_part += w;
  }
  std::string data_part = dataset;
  if (dataset.rfind("imagefolder:", 0) == 0) {
    fs::path folder = fs::path(dataset.substr(12)).lexically_normal();
    if (folder.filename().empty()) folder = folder.parent_path();  // a trailing '/'
    data_part = folder.filename().string();
  }
  std::string folder = "runs/";
  folder += sanitized(model_part);
  folder += '-';
  folder += sanitized(data_part);
  return folder;
}

bool holds_run(const std::string& dir) {
  for (const char* name : kRunFiles)
    if (fs::exists(fs::path(dir) / name)) return true;
  return false;
}

std::string claim_run_folder(const std::string& out, bool out_given, const std::string& resume, bool overwrite) {
  if (!resume.empty()) {
    fs::path parent = fs::path(resume).parent_path();
    if (parent.empty()) parent = ".";
    const std::string resume_dir = parent.string();
    std::error_code ec;
    if (!out_given || fs::equivalent(out, resume_dir, ec)) return resume_dir;  // continues its own metrics
  }
  if (!holds_run(out)) return out;
  if (overwrite) {
    std::printf("replacing the run in '%s' (%s): --overwrite\n", out.c_str(), describe_run(out).c_str());
    remove_run_files(out);
    return out;
  }
  INTRAIN_CHECK(!out_given, "'", out, "' already holds a run (", describe_run(out), "): pass --resume ", out,
                "/last.safetensors to continue it, --overwrite to replace it, or another --out");
  for (int n = 2;; ++n) {
    const std::string numbered = out + "-" + std::to_string(n);
    if (!holds_run(numbered)) {
      std::printf("'%s' holds an earlier run (%s): this one goes to '%s'\n", out.c_str(), describe_run(out).c_str(),
                  numbered.c_str());
      return numbered;
    }
  }
}

}  // namespace intrain::cli
