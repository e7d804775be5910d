// intrain convert: a fake-quantized checkpoint (from ptq or qat) to an int8 program file.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.hpp"
#include "cli/data_settings.hpp"
#include "cli/limits.hpp"
#include "cli/model_loading.hpp"
#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "data/loader.hpp"
#include "data/named_datasets.hpp"
#include "int8/executor.hpp"
#include "quant/convert.hpp"

namespace intrain::cli {

void add_convert_command(CLI::App& app) {
  auto model_name = std::make_shared<std::string>();
  auto checkpoint = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto input = std::make_shared<std::vector<int64_t>>();
  auto image_size = std::make_shared<int64_t>(0);
  auto verify = std::make_shared<std::string>();
  auto pixel_mean = std::make_shared<std::vector<float>>(), pixel_std = std::make_shared<std::vector<float>>();
  auto pixel_input = std::make_shared<bool>(false);
  auto data_root = std::make_shared<std::string>("data");
  CLI::App* cmd = app.add_subcommand("convert", "convert a fake-quantized checkpoint to an int8 program");
  cmd->add_option("--model", *model_name, "model (default: the one the checkpoint records)");
  cmd->add_option("--checkpoint", *checkpoint, "checkpoint written by intrain ptq or intrain qat")->required();
  cmd->add_option("--out", *out, "the program file to write (e.g. lenet.int8)")->required();
  cmd->add_option("--input", *input, "input shape C H W (default: the one the checkpoint was trained on)")->expected(3);
  cmd->add_option("--image-size", *image_size, "input side H = W, with the checkpoint's channels")
      ->check(intrain::cli_limits::kImageSize);
  cmd->add_option("--verify", *verify,
                  "then compare program and fake-quantized model on this dataset's test set "
                  "(mnist, fashion-mnist, imagefolder:PATH)");
  cmd->add_option("--data-root", *data_root)->capture_default_str();
  cmd->add_option("--pixel-mean", *pixel_mean, "normalization mean(s): the program then also takes raw u8 pixels");
  cmd->add_option("--pixel-std", *pixel_std, "normalization std(s), with --pixel-mean");
  cmd->add_flag("--pixel-input", *pixel_input, "take raw u8 pixels with the normalization the checkpoint records");
  cmd->callback([=] {
    LoadedModel loaded = load_model(*model_name, *checkpoint);
    INTRAIN_CHECK(loaded.quant.has_value(), "convert: '", *checkpoint, "' is a float checkpoint; quantize it first ",
                  "with intrain ptq or intrain qat");
    const train::RunState& state = loaded.state;
    // The input: --input, else the checkpoint's (older files: the model's own default),
    // with --image-size replacing its side.
    Shape shape = !input->empty() ? Shape(*input)
                  : state.input_shape.size() == 3 ? Shape(state.input_shape)
                                                  : default_input_shape(resolve_model(*model_name, state, *checkpoint));
    INTRAIN_CHECK(input->empty() || *image_size == 0, "convert: pass --input or --image-size, not both");
    if (*image_size > 0) shape[1] = shape[2] = *image_size;
    if (shape != Shape(state.input_shape.begin(), state.input_shape.end()))
      check_model_takes(*loaded.model, shape, "convert: input " + shape_str(shape) +
                        (state.input_shape.empty() ? "" : " ('" + *checkpoint + "' was trained at " + shape_str(state.input_shape) + ")"));
    int8::Program program = quant::convert(*loaded.model, shape, *model_name);
    program.dataset = state.dataset;
    program.input_mean = state.mean;
    program.input_std = state.std;
    if (static_cast<int64_t>(state.classes.size()) == program.num_outputs()) program.classes = state.classes;
    INTRAIN_CHECK(!*pixel_input || pixel_mean->empty(), "convert: pass --pixel-input or --pixel-mean/--pixel-std, not both");
    INTRAIN_CHECK(!*pixel_input || !state.mean.empty(), "convert --pixel-input: '", *checkpoint,
                  "' records no normalization; pass --pixel-mean and --pixel-std");
    if (*pixel_input) int8::set_pixel_input(program, state.mean, state.std);
    if (!pixel_mean->empty() || !pixel_std->empty()) int8::set_pixel_input(program, *pixel_mean, *pixel_std);
    int8::save_program(*out, program);
    std::printf("wrote %s: %zu integer ops, %lld bytes (float checkpoint %lld bytes)\n", out->c_str(),
                program.ops.size(), static_cast<long long>(std::filesystem::file_size(*out)),
                static_cast<long long>(std::filesystem::file_size(*checkpoint)));
    if (verify->empty()) return;
    // Top-1 agreement and accuracies: the fake-quantized model in eval mode against the
    // integer program, image by image, on the whole test set.
    const int8::Executor executor(int8::load_program(*out));
    const DataSettings settings = resolve_data({*verify, *data_root, shape[1] == shape[2] ? shape[1] : 0}, state, *checkpoint);
    auto verify_set = data::make_dataset(settings.dataset, data::Split::test, settings.options);
    INTRAIN_CHECK(verify_set->example_shape() == shape, "convert --verify: '", *verify, "' images are ",
                  shape_str(verify_set->example_shape()), " but the program takes ", shape_str(shape));
    data::DataLoader loader(verify_set, {data::evaluation_batch_size(*verify_set, 500), false, 0, false, 1, 2});
    loader.start_epoch(0);
    loaded.model->eval();
    NoGradGuard no_grad;
    data::Batch batch;
    int64_t agree = 0, fake_right = 0, int_right = 0, total = 0;
    while (loader.next(batch)) {
      const auto fake = argmax((*loaded.model)(batch.images), 1).to_vector<int32_t>();
      const auto integer = argmax(executor.run(batch.images), 1).to_vector<int32_t>();
      const int32_t* truth = batch.labels.data<int32_t>();
      for (size_t i = 0; i < fake.size(); ++i) {
        agree += fake[i] == integer[i];
        fake_right += fake[i] == truth[i];
        int_right += integer[i] == truth[i];
      }
      total += batch.labels.numel();
    }
    std::printf("%s test, %lld images: top-1 agreement %.2f%%; accuracy fake-quantized %.2f%%, int8 program %.2f%%\n",
                verify->c_str(), static_cast<long long>(total), 100.0 * agree / total, 100.0 * fake_right / total,
                100.0 * int_right / total);
  });
}

}  // namespace intrain::cli
