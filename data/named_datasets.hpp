#pragma once
// Datasets by name for the command line: where the files live, the standard normalization
// for each, and the image size they are read at.
#include <string>
#include <vector>

#include "data/mnist.hpp"

namespace intrain::data {

struct DatasetOptions {
  std::string data_root = "data";  // replaces "data" in data/mnist, data/fashion-mnist
  bool augment = false;            // random crops (and flips for photos) on the training split
  int64_t image_size = 0;          // 0: the dataset's own (MNIST 28, image folders 224); MNIST takes 28 only
  std::vector<float> mean, std;    // the input normalization; empty: the dataset's standard one
  // An image folder without train/ and val/ serves as the training split only when the
  // caller splits it itself (train --val-fraction); otherwise that is an error, so one set
  // of images is never silently both trained and tested on.
  bool whole_folder_for_train = false;
};

// "mnist" (data/mnist, fetched by scripts/setup) or "fashion-mnist" (the Debian package's
// /usr/share/datasets/fashion-mnist, or data/fashion-mnist); with `augment`, training images
// get a random 28x28 crop of the 2-pixel-padded image. "imagefolder:PATH" reads PATH/train
// and PATH/val with the ImageNet presets at `image_size` (random resized crops and flips
// when augmenting); a folder with neither is an evaluation folder: its test split is PATH.
DatasetPtr make_dataset(const std::string& name, Split split, const DatasetOptions& options);
// The same with the options spelled out (older callers, benchmarks).
DatasetPtr make_dataset(const std::string& name, Split split, const std::string& data_root = "data",
                        bool augment = false, int64_t image_size = 224);

struct Normalization {
  std::vector<float> mean, std;
};
// The normalization a dataset is read with by default (training-set pixel statistics for
// MNIST and Fashion-MNIST, ImageNet's for image folders). Throws for an unknown name.
Normalization standard_normalization(const std::string& name);
bool is_image_folder(const std::string& name);
// An image folder holding neither train/ nor val/ (class folders directly under PATH).
bool is_flat_image_folder(const std::string& name);
// The class names of a dataset in label order ("0".."9" for the MNIST family).
std::vector<std::string> class_names(const Dataset& dataset);

}  // namespace intrain::data
