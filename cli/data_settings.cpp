#include "cli/data_settings.hpp"

#include "cli/limits.hpp"
#include "core/autograd.hpp"
#include "data/validation_split.hpp"
#include "interop/onnx_import.hpp"

namespace intrain::cli {

void add_data_options(CLI::App* cmd, DataFlags& flags) {
  cmd->add_option("--dataset", flags.dataset,
                  "mnist, fashion-mnist or imagefolder:PATH (default: the one the checkpoint was trained on)");
  cmd->add_option("--data-root", flags.data_root, "folder holding mnist/ (and fashion-mnist/)")->capture_default_str();
  cmd->add_option("--image-size", flags.image_size,
                  "image side for imagefolder datasets (default: the checkpoint's, else 224)")
      ->check(intrain::cli_limits::kImageSize);
}

DataSettings resolve_data(const DataFlags& flags, const train::RunState& state, const std::string& checkpoint) {
  DataSettings s;
  s.dataset = !flags.dataset.empty() ? flags.dataset : !state.dataset.empty() ? state.dataset : "mnist";
  s.options.data_root = flags.data_root;
  s.options.image_size = flags.image_size;
  if (data::is_image_folder(s.dataset) && s.options.image_size == 0 && state.input_shape.size() == 3) {
    INTRAIN_CHECK(state.input_shape[1] == state.input_shape[2], "checkpoint '", checkpoint, "' was trained on ",
                  shape_str(state.input_shape), " images; image folders are read square: pass --image-size");
    s.options.image_size = state.input_shape[2];
  }
  // The network expects the normalization it was trained with, whatever images it now sees.
  const data::Normalization standard = data::standard_normalization(s.dataset);
  if (!state.mean.empty() && (state.mean.size() == 1 || state.mean.size() == standard.mean.size())) {
    s.options.mean = state.mean;
    s.options.std = state.std;
  }
  return s;
}

void check_model_takes(nn::Module& model, const Shape& shape, const std::string& what) {
  const bool was_training = model.is_training();
  model.eval();
  try {
    NoGradGuard no_grad;
    Shape batch{1};
    batch.insert(batch.end(), shape.begin(), shape.end());
    model(Tensor::zeros(batch));
  } catch (const Error& e) {
    model.train(was_training);
    throw Error(what + ": the model cannot take " + shape_str(shape) + " images (" + e.what() + ")");
  }
  model.train(was_training);
}

void check_images_fit(nn::Module& model, const data::Dataset& set, const train::RunState& state,
                      const std::string& dataset, const std::string& checkpoint) {
  const Shape images = set.example_shape();
  if (state.input_shape.size() != 3) return;  // an older checkpoint: the forward pass says it
  INTRAIN_CHECK(images[0] == state.input_shape[0], "'", dataset, "' images have ", images[0],
                " channel(s); the model in '", checkpoint, "' takes ", state.input_shape[0]);
  if (images != Shape(state.input_shape.begin(), state.input_shape.end()))
    check_model_takes(model, images,
                      "--image-size " + std::to_string(images[1]) + " ('" + checkpoint + "' was trained at " +
                          shape_str(state.input_shape) + ")");
}

Shape default_input_shape(const std::string& spec) {
  const std::string name = spec.substr(0, spec.find(':'));
  if (name == "lenet" || name == "lenet5_bn") return {1, 28, 28};
  if (name == "onnx") {  // the shape the file declares, where it is not symbolic
    const Shape declared = interop::onnx_input_shape(spec.substr(5));
    bool fixed = declared.size() == 3;
    for (int64_t d : declared) fixed = fixed && d > 0;
    if (fixed) return declared;
  }
  auto option = [&](const std::string& key, int64_t fallback) {
    const auto at = spec.find(key + "=");
    if (at == std::string::npos || spec.find(':') == std::string::npos) return fallback;
    try {
      return static_cast<int64_t>(std::stod(spec.substr(at + key.size() + 1)));
    } catch (const std::exception&) {
      return fallback;  // make_model reports the malformed option
    }
  };
  return {option("in_channels", 3), option("small_input", 0) != 0 ? 28 : 224, option("small_input", 0) != 0 ? 28 : 224};
}

TrainingSets make_training_sets(const DataSettings& settings, double val_fraction) {
  TrainingSets sets;
  data::DatasetOptions train_options = settings.options;
  const bool flat = data::is_flat_image_folder(settings.dataset);
  train_options.whole_folder_for_train = flat && val_fraction > 0;
  data::DatasetPtr full = data::make_dataset(settings.dataset, data::Split::train, train_options);
  sets.base = full.get();
  if (!flat) sets.test = data::make_dataset(settings.dataset, data::Split::test, settings.options);
  if (val_fraction <= 0) {
    sets.train = full;
    sets.selection = sets.test;
    sets.selection_name = "test";
    return sets;
  }
  // The held-out images without augmentation: the same files read with the eval transforms.
  data::DatasetPtr plain = full;
  if (settings.options.augment) {
    data::DatasetOptions eval_options = train_options;
    eval_options.augment = false;
    plain = data::make_dataset(settings.dataset, data::Split::train, eval_options);
  }
  data::SplitIndices split = data::split_indices(full->size(), val_fraction);
  sets.train = std::make_shared<data::SubsetDataset>(full, std::move(split.train));
  sets.selection = std::make_shared<data::SubsetDataset>(plain, std::move(split.val));
  sets.selection_name = "val";
  return sets;
}

void record_data_settings(train::RunState& state, const DataSettings& settings, const data::Dataset& train_set,
                          double val_fraction) {
  state.dataset = settings.dataset;
  const Shape shape = train_set.example_shape();
  state.input_shape.assign(shape.begin(), shape.end());
  const data::Normalization n = settings.options.mean.empty() ? data::standard_normalization(settings.dataset)
                                                              : data::Normalization{settings.options.mean, settings.options.std};
  state.mean = n.mean;
  state.std = n.std;
  state.classes = data::class_names(train_set);
  state.val_fraction = val_fraction;
}

}  // namespace intrain::cli
