#pragma once
// Datasets hand out examples by index; the DataLoader batches them.
#include <cstdint>
#include <memory>
#include <string>

#include "core/generator.hpp"
#include "core/tensor.hpp"

namespace intrain::data {

struct Example {
  Tensor image;   // f32 [C, H, W]
  int32_t label;  // class index
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // Thread-safe: loader workers call it concurrently. `gen` seeds random transforms.
  virtual Example get(int64_t index, Generator& gen) const = 0;
  virtual int64_t num_classes() const = 0;
  virtual Shape example_shape() const = 0;  // [C, H, W]
};

using DatasetPtr = std::shared_ptr<const Dataset>;

}  // namespace intrain::data
