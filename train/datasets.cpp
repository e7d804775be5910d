#include "train/datasets.hpp"

#include <filesystem>

namespace intrain::train {

data::DatasetPtr make_dataset(const std::string& name, data::Split split, const std::string& data_root, bool augment) {
  std::string dir;
  std::vector<float> mean, std;
  if (name == "mnist") {
    dir = data_root + "/mnist";
    mean = {0.1307f};  // the training set's pixel statistics
    std = {0.3081f};
  } else if (name == "fashion-mnist") {
    dir = data_root + "/fashion-mnist";
    if (!std::filesystem::exists(dir)) dir = "/usr/share/datasets/fashion-mnist";
    mean = {0.2860f};
    std = {0.3530f};
  } else {
    throw Error("unknown dataset '" + name + "' (known: mnist, fashion-mnist)");
  }
  std::vector<data::Transform> transforms;
  if (augment && split == data::Split::train) transforms.push_back(data::random_crop(28, 2));
  transforms.push_back(data::normalize(mean, std));
  return std::make_shared<data::MnistDataset>(dir, split, data::compose(std::move(transforms)));
}

}  // namespace intrain::train
