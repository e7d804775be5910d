#pragma once
// MNIST and Fashion-MNIST (same IDX layout): 28x28 grayscale images, 10 classes. Images
// are scaled to [0, 1]; transforms (normalization, augmentation) apply on top.
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "data/transforms.hpp"

namespace intrain::data {

enum class Split { train, test };

class MnistDataset : public Dataset {
 public:
  // Reads <dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte, plain or with .gz.
  MnistDataset(const std::string& dir, Split split, Transform transform = {});
  // From memory (tests, tools): images [N, 28*28] u8 row-major, labels [N].
  MnistDataset(std::vector<uint8_t> images, std::vector<uint8_t> labels, int64_t rows, int64_t cols,
               Transform transform = {});

  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  Example get(int64_t index, Generator& gen) const override;
  int64_t num_classes() const override { return 10; }
  Shape example_shape() const override { return {1, rows_, cols_}; }
  const std::vector<uint8_t>& labels() const { return labels_; }
  // The raw 8-bit pixels of one image (rows × cols), before any transform.
  const uint8_t* pixels(int64_t index) const { return images_.data() + index * rows_ * cols_; }

 private:
  void validate(const std::string& where) const;
  std::vector<uint8_t> images_, labels_;
  int64_t rows_ = 0, cols_ = 0;
  Transform transform_;
};

// The path of an IDX file in `dir`, preferring the plain name and falling back to .gz;
// a missing file gives an error that names the command which fetches the data.
std::string find_idx_file(const std::string& dir, const std::string& stem);

}  // namespace intrain::data
