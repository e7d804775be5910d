#include "data/named_datasets.hpp"

#include <filesystem>

#include "data/image_folder.hpp"
#include "data/image_transforms.hpp"

namespace intrain::data {

namespace {

constexpr const char* kFolderPrefix = "imagefolder:";

std::filesystem::path folder_root(const std::string& name) { return name.substr(12); }

void check_normalization(const std::string& name, const Normalization& n, int64_t channels) {
  INTRAIN_CHECK(n.mean.size() == n.std.size() && (n.mean.size() == 1 || static_cast<int64_t>(n.mean.size()) == channels),
                "dataset '", name, "': the normalization needs one mean and std, or one per channel (", channels,
                "), got ", n.mean.size(), " and ", n.std.size());
  for (float s : n.std) INTRAIN_CHECK(s > 0, "dataset '", name, "': a normalization std must be positive");
}

}  // namespace

bool is_image_folder(const std::string& name) { return name.rfind(kFolderPrefix, 0) == 0; }

bool is_flat_image_folder(const std::string& name) {
  if (!is_image_folder(name)) return false;
  const std::filesystem::path root = folder_root(name);
  return !std::filesystem::is_directory(root / "train") && !std::filesystem::is_directory(root / "val");
}

Normalization standard_normalization(const std::string& name) {
  if (is_image_folder(name))
    return {{kImageNetMean[0], kImageNetMean[1], kImageNetMean[2]}, {kImageNetStd[0], kImageNetStd[1], kImageNetStd[2]}};
  if (name == "mnist") return {{0.1307f}, {0.3081f}};  // the training set's pixel statistics
  if (name == "fashion-mnist") return {{0.2860f}, {0.3530f}};
  throw Error("unknown dataset '" + name + "' (known: mnist, fashion-mnist, imagefolder:PATH)");
}

DatasetPtr make_dataset(const std::string& name, Split split, const DatasetOptions& options) {
  Normalization norm = standard_normalization(name);
  if (!options.mean.empty() || !options.std.empty()) norm = {options.mean, options.std};
  if (is_image_folder(name)) {
    const std::filesystem::path root = folder_root(name);
    const int64_t size = options.image_size > 0 ? options.image_size : 224;
    check_normalization(name, norm, 3);
    std::filesystem::path dir = root / (split == Split::train ? "train" : "val");
    if (!std::filesystem::is_directory(dir)) {
      const bool flat = is_flat_image_folder(name);
      INTRAIN_CHECK(flat, "image folder '", root.string(), "' has ", split == Split::train ? "val/ but no train/" : "train/ but no val/",
                    ": add the missing split (or train with --val-fraction on a folder of class folders)");
      INTRAIN_CHECK(split == Split::test || options.whole_folder_for_train, "image folder '", root.string(),
                    "' has no train/ and val/ subfolders: training on it needs --val-fraction F to hold out part of "
                    "it (its images would otherwise be both trained and tested on)");
      dir = root;
    }
    const bool train = split == Split::train && options.augment;
    return std::make_shared<ImageFolder>(dir.string(), train ? imagenet_train(size, norm.mean, norm.std)
                                                             : imagenet_eval(size, norm.mean, norm.std),
                                         Shape{3, size, size});
  }
  INTRAIN_CHECK(options.image_size == 0 || options.image_size == 28, "dataset '", name, "' has 28x28 images; ",
                "--image-size ", options.image_size, " applies to imagefolder:PATH datasets only");
  check_normalization(name, norm, 1);
  std::string dir = options.data_root + "/" + name;
  if (name == "fashion-mnist" && !std::filesystem::exists(dir)) dir = "/usr/share/datasets/fashion-mnist";
  std::vector<Transform> transforms;
  if (options.augment && split == Split::train) transforms.push_back(random_crop(28, 2));
  transforms.push_back(normalize(norm.mean, norm.std));
  return std::make_shared<MnistDataset>(dir, split, compose(std::move(transforms)));
}

DatasetPtr make_dataset(const std::string& name, Split split, const std::string& data_root, bool augment,
                        int64_t image_size) {
  DatasetOptions options;
  options.data_root = data_root;
  options.augment = augment;
  options.image_size = is_image_folder(name) ? image_size : 0;
  return make_dataset(name, split, options);
}

std::vector<std::string> class_names(const Dataset& dataset) {
  if (const auto* folder = dynamic_cast<const ImageFolder*>(&dataset)) return folder->classes();
  std::vector<std::string> names;
  for (int64_t c = 0; c < dataset.num_classes(); ++c) names.push_back(std::to_string(c));
  return names;
}

}  // namespace intrain::data
