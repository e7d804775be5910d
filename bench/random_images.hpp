#pragma once
// Random normal images with one label, for benchmarks that calibrate or feed a model where
// speed does not depend on the data (and real photos may be absent).
#include "data/dataset.hpp"

namespace intrain::bench {

class RandomImages : public data::Dataset {
 public:
  RandomImages(Shape shape, int64_t count, int64_t classes) : shape_(std::move(shape)), count_(count), classes_(classes) {}
  int64_t size() const override { return count_; }
  data::Example get(int64_t index, Generator&) const override {
    Generator g(static_cast<uint64_t>(index) + 1);
    return {Tensor::randn(shape_, g), 0};
  }
  int64_t num_classes() const override { return classes_; }
  Shape example_shape() const override { return shape_; }

 private:
  Shape shape_;
  int64_t count_, classes_;
};

}  // namespace intrain::bench
