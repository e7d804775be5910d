// intrain summary: the layer table of a model and its parameter count.
#include <cstdio>
#include <memory>

#include "cli/commands.hpp"
#include "models/registry.hpp"
#include "nn/summary.hpp"

namespace intrain::cli {

void add_summary_command(CLI::App& app) {
  auto model_name = std::make_shared<std::string>("lenet");
  auto input = std::make_shared<std::vector<int64_t>>(std::vector<int64_t>{1, 1, 28, 28});
  CLI::App* cmd = app.add_subcommand("summary", "print a model's layers, output shapes and parameter counts");
  cmd->add_option("--model", *model_name, "model name")->capture_default_str();
  cmd->add_option("--input", *input, "input shape N C H W")->capture_default_str()->expected(4);
  cmd->callback([model_name, input] {
    nn::ModulePtr model = models::make_model(*model_name);
    std::printf("%s\n%s", model_name->c_str(), nn::summary(*model, *input).c_str());
  });
}

}  // namespace intrain::cli
