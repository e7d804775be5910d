// intrain import-onnx and export-onnx: models in and out of ONNX files (interop/).
//
// import-onnx turns an ONNX file into a checkpoint whose model specification is
// "onnx:PATH": every command rebuilds the structure from that file (through the model
// source interop registers) and loads the checkpoint's weights into it, so the imported
// model trains, calibrates, fine-tunes and converts like a built-in one.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.hpp"
#include "cli/data_settings.hpp"
#include "cli/limits.hpp"
#include "cli/model_loading.hpp"
#include "interop/onnx_export.hpp"
#include "interop/onnx_import.hpp"
#include "train/checkpoint.hpp"
#include "train/trainer.hpp"

namespace intrain::cli {

namespace {

struct ImportArgs {
  std::string onnx, out;
  DataFlags data;
  std::vector<float> mean, std;
  int64_t batch_size = 0;
};

void run_import(const ImportArgs& a) {
  const interop::OnnxImport imported = interop::import_onnx(a.onnx);
  train::RunState state;
  // An absolute path: the checkpoint rebuilds the model from this file wherever it is used.
  state.model_name = "onnx:" + std::filesystem::absolute(a.onnx).lexically_normal().string();
  bool known_shape = imported.input_shape.size() == 3;
  for (int64_t d : imported.input_shape) known_shape = known_shape && d > 0;
  if (known_shape) state.input_shape = imported.input_shape;
  INTRAIN_CHECK(a.mean.size() == a.std.size(), "import-onnx: --mean and --std need the same number of values");
  state.mean = a.mean;
  state.std = a.std;
  state.dataset = a.data.dataset;
  std::printf("imported %s: %lld parameters, input %s\n", a.onnx.c_str(),
              static_cast<long long>(imported.model->parameter_count()), shape_str(imported.input_shape).c_str());
  if (!a.out.empty()) {
    train::save_checkpoint(a.out, *imported.model, nullptr, state);
    std::printf("wrote %s (model %s)\n", a.out.c_str(), state.model_name.c_str());
  }
  if (a.data.dataset.empty()) return;
  const DataSettings settings = resolve_data(a.data, state, a.onnx);
  auto test_set = data::make_dataset(settings.dataset, data::Split::test, settings.options);
  check_images_fit(*imported.model, *test_set, state, settings.dataset, a.onnx);
  data::DataLoader loader(test_set, {a.batch_size > 0 ? a.batch_size : data::evaluation_batch_size(*test_set), false, 0, false, 1, 2});
  const train::EvalResult r = train::evaluate(*imported.model, loader);
  std::printf("%s on %s test (%lld images): loss %.4f, top-1 accuracy %.2f%%\n", a.onnx.c_str(), settings.dataset.c_str(),
              static_cast<long long>(r.count), r.loss, 100 * r.accuracy);
}

struct ExportArgs {
  std::string model, checkpoint, program, out;
  std::vector<int64_t> input;
};

void run_export(const ExportArgs& a) {
  INTRAIN_CHECK(a.checkpoint.empty() != a.program.empty(), "export-onnx: pass --checkpoint or --program (one of them)");
  if (!a.program.empty()) {
    INTRAIN_CHECK(a.model.empty() && a.input.empty(), "export-onnx --program: the program fixes the model and input");
    const int8::Program program = int8::load_program(a.program);
    interop::export_onnx_int8(program, a.out);
    std::printf("wrote %s: int8 program %s as ONNX (QLinearConv), %lld bytes\n", a.out.c_str(), a.program.c_str(),
                static_cast<long long>(std::filesystem::file_size(a.out)));
    return;
  }
  // The float weights of the checkpoint (a fake-quantized one gives its float twin).
  const train::RunState state = train::read_checkpoint_state(a.checkpoint);
  const std::string spec = resolve_model(a.model, state, a.checkpoint);
  nn::ModulePtr model = load_float_weights(a.model, a.checkpoint);
  const Shape shape = !a.input.empty() ? Shape(a.input)
                      : state.input_shape.size() == 3 ? Shape(state.input_shape)
                                                      : default_input_shape(spec);
  check_model_takes(*model, shape, "export-onnx: input " + shape_str(shape));
  interop::export_onnx(*model, shape, a.out, spec);
  std::printf("wrote %s: %s, input [N, %lld, %lld, %lld], %lld bytes\n", a.out.c_str(), spec.c_str(),
              static_cast<long long>(shape[0]), static_cast<long long>(shape[1]), static_cast<long long>(shape[2]),
              static_cast<long long>(std::filesystem::file_size(a.out)));
}

}  // namespace

void add_onnx_commands(CLI::App& app) {
  // Checkpoints of imported models name "onnx:PATH"; every command can now rebuild them.
  interop::register_onnx_model_source();

  auto imp = std::make_shared<ImportArgs>();
  CLI::App* i = app.add_subcommand("import-onnx", "import an ONNX float model: a checkpoint of model onnx:PATH, and/or evaluate it");
  i->add_option("--onnx", imp->onnx, "the .onnx file (as torch.onnx.export writes it)")->required();
  i->add_option("--out", imp->out, "the checkpoint to write (.safetensors)");
  add_data_options(i, imp->data);
  i->add_option("--mean", imp->mean, "input normalization mean(s) the model expects (recorded in the checkpoint)");
  i->add_option("--std", imp->std, "input normalization std(s), with --mean");
  i->add_option("--batch-size", imp->batch_size, "evaluation batch size")->check(intrain::cli_limits::kBatch);
  i->callback([imp] {
    INTRAIN_CHECK(!imp->out.empty() || !imp->data.dataset.empty(), "import-onnx: pass --out, --dataset or both");
    run_import(*imp);
  });

  auto exp = std::make_shared<ExportArgs>();
  CLI::App* e = app.add_subcommand("export-onnx", "export a checkpoint (float) or an int8 program to ONNX (opset 13)");
  e->add_option("--checkpoint", exp->checkpoint, "a float or fake-quantized checkpoint (its float weights are exported)");
  e->add_option("--model", exp->model, "model (default: the one the checkpoint records)");
  e->add_option("--program", exp->program, "an int8 program written by intrain convert");
  e->add_option("--input", exp->input, "input shape C H W (default: the checkpoint's)")->expected(3);
  e->add_option("--out", exp->out, "the .onnx file to write")->required();
  e->callback([exp] { run_export(*exp); });
}

}  // namespace intrain::cli
