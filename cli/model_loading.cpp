#include "cli/model_loading.hpp"

#include "core/safetensors.hpp"
#include "models/registry.hpp"

namespace intrain::cli {

void check_model_matches(const train::RunState& state, const std::string& model_name, const std::string& path) {
  INTRAIN_CHECK(state.model_name.empty() || state.model_name == model_name, "checkpoint '", path, "' holds a ",
                state.model_name, ", not a ", model_name, " (pass --model ", state.model_name, ")");
}

std::string resolve_model(const std::string& model_name, const train::RunState& state, const std::string& path) {
  const std::string name = !model_name.empty() ? model_name : !state.model_name.empty() ? state.model_name : "lenet";
  check_model_matches(state, name, path);
  return name;
}

LoadedModel load_model(const std::string& model_name, const std::string& checkpoint) {
  LoadedModel out;
  out.state = train::read_checkpoint_state(checkpoint);
  out.model = models::make_model(resolve_model(model_name, out.state, checkpoint));
  if (!out.state.quant_config.empty()) {
    out.quant = quant::QuantConfig::from_json(out.state.quant_config);
    out.layers = quant::prepare_qat(*out.model, *out.quant);
  }
  train::load_checkpoint(checkpoint, *out.model);
  return out;
}

nn::ModulePtr load_float_weights(const std::string& model_name, const std::string& checkpoint) {
  nn::ModulePtr model = models::make_model(resolve_model(model_name, train::read_checkpoint_state(checkpoint), checkpoint));
  const auto expected = model->state_dict();
  std::map<std::string, Tensor> floats;
  for (auto& [name, t] : load_safetensors(checkpoint).tensors)
    if (expected.count(name)) floats.emplace(name, t);
  model->load_state_dict(floats);  // strict: every float tensor must be there
  return model;
}

}  // namespace intrain::cli
