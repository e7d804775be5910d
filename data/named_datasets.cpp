#include "data/named_datasets.hpp"

#include <filesystem>

#include "data/image_folder.hpp"
#include "data/image_transforms.hpp"

namespace intrain::data {

DatasetPtr make_dataset(const std::string& name, Split split, const std::string& data_root, bool augment,
                        int64_t image_size) {
  if (name.rfind("imagefolder:", 0) == 0) {
    const std::filesystem::path root = name.substr(12);
    const std::filesystem::path sub = root / (split == Split::train ? "train" : "val");
    const std::string dir = std::filesystem::is_directory(sub) ? sub.string() : root.string();
    const bool train = split == Split::train && augment;
    return std::make_shared<ImageFolder>(dir, train ? imagenet_train(image_size) : imagenet_eval(image_size),
                                         Shape{3, image_size, image_size});
  }
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
    throw Error("unknown dataset '" + name + "' (known: mnist, fashion-mnist, imagefolder:PATH)");
  }
  std::vector<Transform> transforms;
  if (augment && split == Split::train) transforms.push_back(random_crop(28, 2));
  transforms.push_back(normalize(mean, std));
  return std::make_shared<MnistDataset>(dir, split, compose(std::move(transforms)));
}

}  // namespace intrain::data
