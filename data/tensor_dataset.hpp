#pragma once
// A dataset of examples already in memory: images [N, C, H, W] f32 (normalized as the model
// expects) and labels [N] i32, e.g. inputs another framework prepared and saved.
#include <utility>

#include "core/error.hpp"
#include "data/dataset.hpp"

namespace intrain::data {

class TensorDataset : public Dataset {
 public:
  // `classes`: the number of classes the labels come from (at least max label + 1).
  TensorDataset(Tensor images, Tensor labels, int64_t classes)
      : images_(images.contiguous()), labels_(labels.contiguous()), classes_(classes) {
    INTRAIN_CHECK(images_.dim() == 4 && images_.dtype() == DType::f32, "TensorDataset: images must be f32 [N, C, H, W], got ",
                  shape_str(images_.shape()));
    INTRAIN_CHECK(labels_.dim() == 1 && labels_.dtype() == DType::i32 && labels_.size(0) == images_.size(0),
                  "TensorDataset: labels must be i32 [", images_.size(0), "], got ", shape_str(labels_.shape()));
    const int32_t* y = labels_.data<int32_t>();
    for (int64_t i = 0; i < labels_.size(0); ++i)
      INTRAIN_CHECK(y[i] >= 0 && y[i] < classes_, "TensorDataset: label ", y[i], " of example ", i, " is not in [0, ",
                    classes_, ")");
  }
  int64_t size() const override { return images_.size(0); }
  Example get(int64_t index, Generator&) const override {
    INTRAIN_CHECK(index >= 0 && index < size(), "TensorDataset: index ", index, " outside [0, ", size(), ")");
    return {images_.narrow(0, index, 1).reshape(example_shape()).clone(), labels_.data<int32_t>()[index]};
  }
  int64_t num_classes() const override { return classes_; }
  Shape example_shape() const override { return {images_.size(1), images_.size(2), images_.size(3)}; }

 private:
  Tensor images_, labels_;
  int64_t classes_;
};

}  // namespace intrain::data
