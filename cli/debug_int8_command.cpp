// intrain debug-int8: the int8 executor against the float model, op by op, on a batch of
// test images (quant/int8_debug.hpp), with the fake-quantized model's SQNR at each point.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/data_settings.hpp"
#include "cli/limits.hpp"
#include "cli/model_loading.hpp"
#include "data/loader.hpp"
#include "int8/executor.hpp"
#include "quant/int8_debug.hpp"

namespace intrain::cli {

namespace {

struct DebugArgs {
  std::string program, checkpoint, model, out;
  DataFlags data;
  int64_t images = 256;
  bool json = false, reference = false;
};

void run_debug_int8(const DebugArgs& a) {
  const int8::Executor executor(int8::load_program(a.program), {!a.reference});
  // A ptq/qat checkpoint gives both models; a float one the float model only.
  LoadedModel loaded = load_model(a.model, a.checkpoint);
  nn::ModulePtr float_model = loaded.quant ? load_float_weights(a.model, a.checkpoint) : loaded.model;
  nn::Module* fake_quantized = loaded.quant ? loaded.model.get() : nullptr;
  const DataSettings settings = resolve_data(a.data, loaded.state, a.checkpoint);
  auto test_set = data::make_dataset(settings.dataset, data::Split::test, settings.options);
  const Shape& input = executor.program().input_shape;
  INTRAIN_CHECK(test_set->example_shape() == input, "debug-int8: '", settings.dataset, "' images are ",
                shape_str(test_set->example_shape()), " but '", a.program, "' takes ", shape_str(input),
                " (pass --image-size or the program's dataset)");
  data::DataLoader loader(test_set, {data::evaluation_batch_size(*test_set, a.images, int64_t{1} << 21), false, 0, false, 0, 1});
  loader.start_epoch(0);
  data::Batch batch;
  INTRAIN_CHECK(loader.next(batch), "debug-int8: '", settings.dataset, "' has no test images");
  const quant::Int8DebugReport report = quant::debug_int8(executor, *float_model, fake_quantized, batch.images);
  const std::string json =
      quant::int8_debug_json(report, {{"program", a.program}, {"checkpoint", a.checkpoint}, {"dataset", settings.dataset}});
  if (a.json)
    std::printf("%s\n", json.c_str());
  else
    std::printf("%s: %s\n%s", a.program.c_str(), a.checkpoint.c_str(), quant::format_int8_debug(report).c_str());
  if (a.out.empty()) return;
  std::filesystem::create_directories(a.out);
  const std::string path = (std::filesystem::path(a.out) / "int8-debug.json").string();
  std::ofstream file(path);
  file << json << '\n';
  file.close();
  INTRAIN_CHECK(file.good(), "debug-int8: could not write '", path, "'");
  if (!a.json) std::printf("wrote %s\n", path.c_str());
}

}  // namespace

void add_debug_int8_command(CLI::App& app) {
  auto a = std::make_shared<DebugArgs>();
  CLI::App* cmd = app.add_subcommand(
      "debug-int8", "per-op SQNR and max error of the int8 executor against the float model (and the fake-quantized one)");
  cmd->add_option("--program", a->program, "the int8 program (intrain convert)")->required();
  cmd->add_option("--checkpoint", a->checkpoint, "the checkpoint it was converted from (ptq or qat; a float one works "
                                                  "without the fake-quant column)")->required();
  cmd->add_option("--model", a->model, "model (default: the one the checkpoint records)");
  add_data_options(cmd, a->data);
  cmd->add_option("--images", a->images, "test images in the batch (fewer for large images)")
      ->capture_default_str()->check(intrain::cli_limits::kImages);
  cmd->add_flag("--json", a->json, "print the report as JSON instead of a table");
  cmd->add_flag("--reference", a->reference, "run the NCHW reference executor instead of the fast kernels");
  cmd->add_option("--out", a->out, "folder to write int8-debug.json into");
  cmd->callback([a] { run_debug_int8(*a); });
}

}  // namespace intrain::cli
