#pragma once
// How a command reads images: the dataset, image size and normalization come from the
// flags when given, else from what the checkpoint recorded at training time, else from the
// dataset's standard; and the training sets (with a validation split) for train and qat.
#include <CLI/CLI.hpp>
#include <string>

#include "data/named_datasets.hpp"
#include "nn/module.hpp"
#include "train/checkpoint.hpp"

namespace intrain::cli {

struct DataFlags {
  std::string dataset;  // empty: the checkpoint's, else mnist
  std::string data_root = "data";
  int64_t image_size = 0;  // 0: the checkpoint's, else the dataset's own
};
// --dataset, --data-root, --image-size.
void add_data_options(CLI::App* cmd, DataFlags& flags);

struct DataSettings {
  std::string dataset;
  data::DatasetOptions options;
};
// The settings for `flags` and a checkpoint's recorded state (`checkpoint` names it in errors).
DataSettings resolve_data(const DataFlags& flags, const train::RunState& state, const std::string& checkpoint);

// Errors naming `what` unless `model` runs on one [C, H, W] example of `shape` (a model
// with a fixed-size classifier, as LeNet, takes one image size only).
void check_model_takes(nn::Module& model, const Shape& shape, const std::string& what);
// The images of `set` must have the channels the checkpoint's model was trained on, and
// any other size only when the model runs on it.
void check_images_fit(nn::Module& model, const data::Dataset& set, const train::RunState& state,
                      const std::string& dataset, const std::string& checkpoint);

// The input a model specification is built for: [1, 28, 28] for LeNet, [C, 28, 28] with the
// small-input stem, else [C, 224, 224] (C from in_channels, default 3).
Shape default_input_shape(const std::string& spec);

struct TrainingSets {
  data::DatasetPtr train, selection, test;  // test: null for an image folder without splits
  std::string selection_name;               // "val" or "test"
  const data::Dataset* base = nullptr;      // the full training set (its class names)
};
// The training split (augmented as asked), the set that chooses the best checkpoint (a
// seeded `val_fraction` of the training images, read without augmentation, or the test
// split when 0) and the test split. A folder without train/ and val/ must be split.
TrainingSets make_training_sets(const DataSettings& settings, double val_fraction);

// Records the data settings a model was trained with into `state`.
void record_data_settings(train::RunState& state, const DataSettings& settings, const data::Dataset& train_set,
                          double val_fraction);

}  // namespace intrain::cli
