#pragma once
// The `intrain` subcommands: each registers its options on the parser and runs.
#include <CLI/CLI.hpp>

namespace intrain::cli {

void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_summary_command(CLI::App& app);
void add_quant_commands(CLI::App& app);  // ptq, qat, quant-report
void add_convert_command(CLI::App& app);
void add_onnx_commands(CLI::App& app);  // import-onnx, export-onnx
void add_report_command(CLI::App& app);  // report RUN_DIR: the run's HTML page
void add_debug_int8_command(CLI::App& app);
void add_sensitivity_command(CLI::App& app);  // sensitivity: one layer quantized at a time

}  // namespace intrain::cli
