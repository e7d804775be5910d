#pragma once
// Datasets by name for the command line: where the files live, and the standard
// normalization for each.
#include <string>

#include "data/mnist.hpp"

namespace intrain::data {

// "mnist" (data/mnist, fetched by scripts/setup) or "fashion-mnist" (the Debian package's
// /usr/share/datasets/fashion-mnist, or data/fashion-mnist). `data_root` replaces "data".
// With `augment`, training images get a random 28x28 crop of the 2-pixel-padded image.
// "imagefolder:PATH" reads PATH/train and PATH/val when they exist (else PATH for both) with
// the ImageNet presets at `image_size` (random resized crops and flips when augmenting).
DatasetPtr make_dataset(const std::string& name, Split split, const std::string& data_root = "data",
                        bool augment = false, int64_t image_size = 224);

}  // namespace intrain::data
