#pragma once
// --precision f32|bf16 for the commands that train (train, qat): mixed precision as
// core/compute_precision.hpp defines it. On a CPU without bf16 instructions, bf16 falls
// back to f32 with one line saying so, as the roadmap asks, rather than failing a recipe.
#include <string>

#include <CLI/CLI.hpp>

namespace intrain::cli {

void add_precision_option(CLI::App* command, std::string& precision);
// Sets the process's compute precision for the run; `command` names it in the message.
void apply_precision(const std::string& precision, const char* command);

}  // namespace intrain::cli
