// intrain summary: the layer table of a model and its parameter count.
#include <cstdio>
#include <memory>

#include "cli/commands.hpp"
#include "cli/data_settings.hpp"
#include "models/registry.hpp"
#include "nn/summary.hpp"

namespace intrain::cli {

void add_summary_command(CLI::App& app) {
  auto model_name = std::make_shared<std::string>("lenet");
  auto input = std::make_shared<std::vector<int64_t>>();
  CLI::App* cmd = app.add_subcommand("summary", "print a model's layers, output shapes and parameter counts");
  cmd->add_option("--model", *model_name, "model name or specification (e.g. mobilenet_v1:width=0.5)")->capture_default_str();
  cmd->add_option("--input", *input, "input shape N C H W (default: 1 and the model's own input, e.g. 1 3 224 224)")
      ->expected(4);
  cmd->callback([model_name, input] {
    nn::ModulePtr model = models::make_model(*model_name);
    Shape shape = *input;
    if (shape.empty()) {
      shape = {1};
      const Shape example = default_input_shape(*model_name);
      shape.insert(shape.end(), example.begin(), example.end());
    }
    std::printf("%s\n%s", model_name->c_str(), nn::summary(*model, shape).c_str());
  });
}

}  // namespace intrain::cli
