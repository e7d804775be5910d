#pragma once
// ImageFolder: root/<class>/<image>, classes indexed by sorted folder name (as torchvision),
// JPEG and PNG; or a flat folder with a label file ("<file> <class index>" per line), the
// ImageNet validation layout. Images decode on the loader's worker threads.
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "data/transforms.hpp"

namespace intrain::data {

enum class BadImages { fatal, skip };

class ImageFolder : public Dataset {
 public:
  // `transform` takes the decoded image as f32 [3, H, W] in [0, 1] and must produce
  // `output_shape` (e.g. [3, 224, 224]). Files whose header is not an image (empty, text,
  // unknown format) are an error naming the file, or with BadImages::skip are left out and
  // counted; so are empty class folders.
  ImageFolder(const std::string& root, Transform transform, Shape output_shape, BadImages bad = BadImages::fatal);
  static ImageFolder with_label_file(const std::string& folder, const std::string& label_file, Transform transform,
                                     Shape output_shape, BadImages bad = BadImages::fatal);

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  Example get(int64_t index, Generator& gen) const override;
  int64_t num_classes() const override { return static_cast<int64_t>(classes_.size()); }
  Shape example_shape() const override { return output_shape_; }

  const std::vector<std::string>& classes() const { return classes_; }
  const std::string& path(int64_t index) const { return files_.at(static_cast<size_t>(index)).first; }
  int64_t skipped() const { return skipped_; }  // bad files left out (BadImages::skip)

 private:
  ImageFolder(Transform transform, Shape output_shape) : transform_(std::move(transform)), output_shape_(std::move(output_shape)) {}
  void add_file(const std::string& path, int32_t label, BadImages bad);

  std::vector<std::pair<std::string, int32_t>> files_;
  std::vector<std::string> classes_;
  Transform transform_;
  Shape output_shape_;
  int64_t skipped_ = 0;
};

}  // namespace intrain::data
