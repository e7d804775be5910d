#pragma once
// A validation split held out of a training set, so the best checkpoint is chosen on images
// neither trained on nor in the test set. The split depends only on the set's size, the
// fraction and a fixed seed: every run and command (train, qat, a resumed run) holds out the
// same images. Header-only: two small pieces with no state of their own.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "data/dataset.hpp"

namespace intrain::data {

inline constexpr uint64_t kValidationSplitSeed = 0x5a11d;

struct SplitIndices {
  std::vector<int64_t> train, val;  // disjoint, together every index once, each ascending
};

// round(size · fraction) images (at least one when fraction > 0) chosen by a seeded shuffle.
inline SplitIndices split_indices(int64_t size, double fraction, uint64_t seed = kValidationSplitSeed) {
  INTRAIN_CHECK(fraction >= 0 && fraction < 1, "--val-fraction must be in [0, 1), got ", fraction);
  auto val_count = static_cast<int64_t>(std::llround(static_cast<double>(size) * fraction));
  if (fraction > 0) val_count = std::max<int64_t>(val_count, 1);
  INTRAIN_CHECK(val_count < size, "--val-fraction ", fraction, " leaves no training images of ", size);
  std::vector<int64_t> order(static_cast<size_t>(size));
  for (int64_t i = 0; i < size; ++i) order[static_cast<size_t>(i)] = i;
  Generator gen(seed);
  for (int64_t i = size - 1; i > 0; --i)  // Fisher–Yates, from our generator: the same on every platform
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(gen.next_u64() % static_cast<uint64_t>(i + 1))]);
  SplitIndices out;
  out.val.assign(order.begin(), order.begin() + val_count);
  out.train.assign(order.begin() + val_count, order.end());
  std::sort(out.val.begin(), out.val.end());
  std::sort(out.train.begin(), out.train.end());
  return out;
}

// The examples of `base` at `indices`, renumbered 0..n−1.
class SubsetDataset : public Dataset {
 public:
  SubsetDataset(DatasetPtr base, std::vector<int64_t> indices) : base_(std::move(base)), indices_(std::move(indices)) {
    for (int64_t i : indices_)
      INTRAIN_CHECK(i >= 0 && i < base_->size(), "SubsetDataset: index ", i, " outside [0, ", base_->size(), ")");
  }
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  Example get(int64_t index, Generator& gen) const override {
    INTRAIN_CHECK(index >= 0 && index < size(), "SubsetDataset: index ", index, " out of range [0, ", size(), ")");
    return base_->get(indices_[static_cast<size_t>(index)], gen);
  }
  int64_t num_classes() const override { return base_->num_classes(); }
  Shape example_shape() const override { return base_->example_shape(); }
  const Dataset& base() const { return *base_; }
  int64_t base_index(int64_t index) const { return indices_.at(static_cast<size_t>(index)); }

 private:
  DatasetPtr base_;
  std::vector<int64_t> indices_;
};

}  // namespace intrain::data
