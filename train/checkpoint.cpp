#include "train/checkpoint.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "core/safetensors.hpp"

namespace intrain::train {

namespace {

const std::string kOptimizerPrefix = "optimizer.";  // the one-file layout, read only

std::filesystem::path sibling(const std::string& checkpoint_path, const std::string& name) {
  return std::filesystem::path(checkpoint_path).parent_path() / name;
}

// "<stem>.optimizer-" for a checkpoint "<folder>/<stem>.safetensors".
std::string optimizer_prefix(const std::string& checkpoint_path) {
  return std::filesystem::path(checkpoint_path).stem().string() + ".optimizer-";
}

// The data settings as metadata entries (JSON arrays), only those that are known.
void add_data_settings(std::map<std::string, std::string>& metadata, const RunState& state) {
  if (!state.dataset.empty()) metadata["dataset"] = state.dataset;
  if (!state.input_shape.empty()) metadata["input_shape"] = nlohmann::json(state.input_shape).dump();
  if (!state.mean.empty()) metadata["normalization"] = nlohmann::json{{"mean", state.mean}, {"std", state.std}}.dump();
  if (!state.classes.empty()) metadata["classes"] = nlohmann::json(state.classes).dump();
  metadata["val_fraction"] = std::to_string(state.val_fraction);
}

void read_data_settings(const std::string& path, const std::map<std::string, std::string>& metadata, RunState& state) {
  auto meta = [&](const std::string& key) {
    auto found = metadata.find(key);
    return found == metadata.end() ? std::string() : found->second;
  };
  state.dataset = meta("dataset");
  try {
    if (!meta("input_shape").empty()) state.input_shape = nlohmann::json::parse(meta("input_shape")).get<std::vector<int64_t>>();
    if (!meta("normalization").empty()) {
      const auto n = nlohmann::json::parse(meta("normalization"));
      state.mean = n.at("mean").get<std::vector<float>>();
      state.std = n.at("std").get<std::vector<float>>();
    }
    if (!meta("classes").empty()) state.classes = nlohmann::json::parse(meta("classes")).get<std::vector<std::string>>();
    if (!meta("val_fraction").empty()) state.val_fraction = std::stod(meta("val_fraction"));
  } catch (const std::exception&) {
    throw Error("checkpoint '" + path + "' has malformed data settings (input_shape, normalization, classes or val_fraction)");
  }
  bool shape_ok = state.input_shape.empty() || state.input_shape.size() == 3;
  for (int64_t d : state.input_shape) shape_ok = shape_ok && d > 0 && d <= (int64_t{1} << 16);
  INTRAIN_CHECK(shape_ok, "checkpoint '", path, "' records an input shape that is not [C, H, W]");
  bool norm_ok = state.mean.size() == state.std.size();
  for (float s : state.std) norm_ok = norm_ok && s > 0;
  INTRAIN_CHECK(norm_ok, "checkpoint '", path, "' records a malformed normalization");
  INTRAIN_CHECK(state.val_fraction >= 0 && state.val_fraction < 1, "checkpoint '", path, "' records val_fraction ",
                state.val_fraction, " outside [0, 1)");
}

}  // namespace

void save_checkpoint(const std::string& path, const nn::Module& model, const nn::Optimizer* optimizer,
                     const RunState& state) {
  std::map<std::string, std::string> metadata{
      {"format", "intrain-checkpoint-2"},
      {"model", state.model_name},
      {"epoch", std::to_string(state.epoch)},
      {"global_step", std::to_string(state.global_step)},
      {"best_accuracy", std::to_string(state.best_accuracy)},
      {"rng_state", state.rng_state},
  };
  if (!state.quant_config.empty()) metadata["quant_config"] = state.quant_config;
  add_data_settings(metadata, state);
  std::string optimizer_file;
  if (optimizer) {
    optimizer_file = optimizer_prefix(path) + std::to_string(state.global_step) + ".safetensors";
    const std::string pairing = std::to_string(std::random_device{}()) + "-" + std::to_string(state.global_step);
    save_safetensors(sibling(path, optimizer_file).string(), optimizer->state_dict(),
                     {{"format", "intrain-optimizer-1"}, {"checkpoint", std::filesystem::path(path).filename().string()},
                      {"pairing", pairing}});
    metadata["optimizer_file"] = optimizer_file;
    metadata["optimizer_pairing"] = pairing;
  }
  save_safetensors(path, model.state_dict(), metadata);
  // Only now is the previous pair unreachable: remove its optimizer file (and any other
  // left by an interrupted save).
  std::error_code ec;
  const std::string prefix = optimizer_prefix(path);
  std::filesystem::path folder = std::filesystem::path(path).parent_path();
  if (folder.empty()) folder = ".";
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && name != optimizer_file && entry.path().extension() == ".safetensors")
      std::filesystem::remove(entry.path(), ec);
  }
}

namespace {

RunState state_from_metadata(const std::string& path, const std::map<std::string, std::string>& metadata) {
  RunState state;
  auto meta = [&](const std::string& key) {
    auto found = metadata.find(key);
    return found == metadata.end() ? std::string() : found->second;
  };
  try {
    if (!meta("epoch").empty()) state.epoch = std::stoll(meta("epoch"));
    if (!meta("global_step").empty()) state.global_step = std::stoll(meta("global_step"));
    if (!meta("best_accuracy").empty()) state.best_accuracy = std::stod(meta("best_accuracy"));
  } catch (const std::exception&) {
    throw Error("checkpoint '" + path + "' has malformed run metadata");
  }
  state.model_name = meta("model");
  state.rng_state = meta("rng_state");
  state.quant_config = meta("quant_config");
  read_data_settings(path, metadata, state);
  return state;
}

}  // namespace

RunState read_checkpoint_state(const std::string& path) {
  return state_from_metadata(path, load_safetensors(path).metadata);
}

std::string optimizer_state_path(const std::string& checkpoint_path) {
  const auto metadata = load_safetensors(checkpoint_path).metadata;
  auto found = metadata.find("optimizer_file");
  return found == metadata.end() ? std::string() : sibling(checkpoint_path, found->second).string();
}

RunState load_checkpoint(const std::string& path, nn::Module& model, nn::Optimizer* optimizer) {
  SafetensorsFile file = load_safetensors(path);
  std::map<std::string, Tensor> model_state, optimizer_state;
  for (auto& [name, t] : file.tensors) {
    if (name.rfind(kOptimizerPrefix, 0) == 0) optimizer_state.emplace(name.substr(kOptimizerPrefix.size()), t);
    else model_state.emplace(name, t);
  }
  try {
    model.load_state_dict(model_state);
  } catch (const Error& e) {
    throw Error("checkpoint '" + path + "' does not fit the model: " + e.what());
  }
  RunState state = state_from_metadata(path, file.metadata);
  if (!optimizer) return state;
  std::string source = path;
  auto named = file.metadata.find("optimizer_file");
  if (named != file.metadata.end()) {
    const std::string& name = named->second;
    INTRAIN_CHECK(name.find('/') == std::string::npos && name.rfind(optimizer_prefix(path), 0) == 0, "checkpoint '",
                  path, "' names a malformed optimizer file '", name, "'");
    source = sibling(path, name).string();
    INTRAIN_CHECK(std::filesystem::exists(source), "checkpoint '", path, "': its optimizer state '", source,
                  "' is missing (copy it along with the checkpoint to resume; the weights alone load without it)");
    SafetensorsFile side = load_safetensors(source);
    auto pairing = side.metadata.find("pairing");
    INTRAIN_CHECK(pairing != side.metadata.end() && pairing->second == file.metadata["optimizer_pairing"],
                  "optimizer state '", source, "' does not belong to checkpoint '", path,
                  "' (their pairing ids differ: one of them was replaced)");
    optimizer_state = std::move(side.tensors);
  }
  INTRAIN_CHECK(!optimizer_state.empty(), "checkpoint '", path, "' holds no optimizer state to resume from");
  try {
    optimizer->load_state_dict(optimizer_state);
  } catch (const Error& e) {
    throw Error("checkpoint '" + path + "': its optimizer state '" + source + "' does not fit: " + e.what());
  }
  return state;
}

}  // namespace intrain::train
