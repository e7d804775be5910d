#include "train/checkpoint.hpp"

#include "core/safetensors.hpp"

namespace intrain::train {

namespace {
const std::string kOptimizerPrefix = "optimizer.";
}

void save_checkpoint(const std::string& path, const nn::Module& model, const nn::Optimizer* optimizer,
                     const RunState& state) {
  std::map<std::string, Tensor> tensors = model.state_dict();
  if (optimizer)
    for (auto& [name, t] : optimizer->state_dict()) tensors.emplace(kOptimizerPrefix + name, t);
  std::map<std::string, std::string> metadata{
      {"format", "intrain-checkpoint-1"},
      {"model", state.model_name},
      {"epoch", std::to_string(state.epoch)},
      {"global_step", std::to_string(state.global_step)},
      {"best_accuracy", std::to_string(state.best_accuracy)},
      {"rng_state", state.rng_state},
  };
  if (!state.quant_config.empty()) metadata["quant_config"] = state.quant_config;
  save_safetensors(path, tensors, metadata);
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
  return state;
}

}  // namespace

RunState read_checkpoint_state(const std::string& path) {
  return state_from_metadata(path, load_safetensors(path).metadata);
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
  if (optimizer) {
    INTRAIN_CHECK(!optimizer_state.empty(), "checkpoint '", path, "' holds no optimizer state to resume from");
    try {
      optimizer->load_state_dict(optimizer_state);
    } catch (const Error& e) {
      throw Error("checkpoint '" + path + "': its optimizer state does not fit: " + e.what());
    }
  }
  return state;
}

}  // namespace intrain::train
