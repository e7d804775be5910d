// intrain: train, evaluate and inspect networks from the command line.
#include <cstdio>

#include "cli/commands.hpp"
#include "core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"intrain: train, quantize and run networks, from scratch in C++"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "intrain " INTRAIN_VERSION);  // the meson project version
  intrain::cli::add_train_command(app);
  intrain::cli::add_eval_command(app);
  intrain::cli::add_summary_command(app);
  intrain::cli::add_quant_commands(app);
  intrain::cli::add_convert_command(app);
  intrain::cli::add_onnx_commands(app);
  intrain::cli::add_report_command(app);
  intrain::cli::add_debug_int8_command(app);
  intrain::cli::add_sensitivity_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    // Every failure is one line on stderr and a non-zero exit, never an abort.
    std::fprintf(stderr, "intrain: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
