// intrain convert: a fake-quantized checkpoint (from ptq or qat) to an int8 program file.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.hpp"
#include "cli/model_loading.hpp"
#include "quant/convert.hpp"

namespace intrain::cli {

void add_convert_command(CLI::App& app) {
  auto model_name = std::make_shared<std::string>("lenet");
  auto checkpoint = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto input = std::make_shared<std::vector<int64_t>>(std::vector<int64_t>{1, 28, 28});
  CLI::App* cmd = app.add_subcommand("convert", "convert a fake-quantized checkpoint to an int8 program");
  cmd->add_option("--model", *model_name, "model name")->capture_default_str();
  cmd->add_option("--checkpoint", *checkpoint, "checkpoint written by intrain ptq or intrain qat")->required();
  cmd->add_option("--out", *out, "the program file to write (e.g. lenet.int8)")->required();
  cmd->add_option("--input", *input, "input shape C H W")->capture_default_str()->expected(3);
  cmd->callback([=] {
    LoadedModel loaded = load_model(*model_name, *checkpoint);
    INTRAIN_CHECK(loaded.quant.has_value(), "convert: '", *checkpoint, "' is a float checkpoint; quantize it first ",
                  "with intrain ptq or intrain qat");
    const int8::Program program = quant::convert(*loaded.model, *input, *model_name);
    int8::save_program(*out, program);
    std::printf("wrote %s: %zu integer ops, %lld bytes (float checkpoint %lld bytes)\n", out->c_str(),
                program.ops.size(), static_cast<long long>(std::filesystem::file_size(*out)),
                static_cast<long long>(std::filesystem::file_size(*checkpoint)));
  });
}

}  // namespace intrain::cli
