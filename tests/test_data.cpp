// IDX parsing (plain and gzip, and every bad case), MNIST datasets, transforms, DataLoader.
#include <doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>

#include "data/idx.hpp"
#include "data/loader.hpp"
#include "data/mnist.hpp"
#include "data/validation_split.hpp"
#include "tests/expect_error.hpp"
#include "tests/temp_dir.hpp"

using namespace intrain;
using namespace intrain::data;
using intrain::testing::TempDir;
using intrain::testing::expect_error;

namespace {

// A tiny MNIST-shaped dataset in `dir`: n images of 28x28 whose pixels encode the index.
void write_tiny_mnist(const TempDir& dir, const std::string& split, int64_t n, bool gz) {
  std::vector<uint8_t> images(static_cast<size_t>(n * 28 * 28)), labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    labels[static_cast<size_t>(i)] = static_cast<uint8_t>(i % 10);
    for (int64_t p = 0; p < 28 * 28; ++p) images[static_cast<size_t>(i * 784 + p)] = static_cast<uint8_t>((i + p) % 256);
  }
  const std::string ext = gz ? ".gz" : "";
  write_idx_u8(dir / (split + "-images-idx3-ubyte" + ext), {n, 28, 28}, images);
  write_idx_u8(dir / (split + "-labels-idx1-ubyte" + ext), {n}, labels);
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

TEST_CASE("IDX files round-trip, plain and gzip") {
  TempDir dir;
  for (const std::string name : {"a.idx", "a.idx.gz"}) {
    write_idx_u8(dir / name, {2, 3}, {1, 2, 3, 4, 5, 6});
    IdxArray a = read_idx_u8(dir / name);
    CHECK(a.dims == std::vector<int64_t>{2, 3});
    CHECK(a.values == std::vector<uint8_t>{1, 2, 3, 4, 5, 6});
  }
}

TEST_CASE("bad IDX files give errors that name the file") {
  TempDir dir;
  expect_error([&] { read_idx_u8(dir / "missing"); }, "missing' does not exist");
  write_bytes(dir / "short", {0, 0});
  expect_error([&] { read_idx_u8(dir / "short"); }, "short' is truncated");
  write_bytes(dir / "magic", {0x12, 0x34, 0x08, 0x01, 0, 0, 0, 1, 7});
  expect_error([&] { read_idx_u8(dir / "magic"); }, "wrong magic number");
  write_bytes(dir / "type", {0, 0, 0x0d, 0x01, 0, 0, 0, 1, 7, 7, 7, 7});
  expect_error([&] { read_idx_u8(dir / "type"); }, "element type");
  write_bytes(dir / "header", {0, 0, 0x08, 0x03, 0, 0, 0});
  expect_error([&] { read_idx_u8(dir / "header"); }, "inside its header");
  write_bytes(dir / "truncated", {0, 0, 0x08, 0x01, 0, 0, 0, 5, 1, 2});
  expect_error([&] { read_idx_u8(dir / "truncated"); }, "truncated");
  write_bytes(dir / "long", {0, 0, 0x08, 0x01, 0, 0, 0, 1, 1, 2});
  expect_error([&] { read_idx_u8(dir / "long"); }, "promises 1");
  // A gzip stream cut in the middle.
  write_idx_u8(dir / "full.gz", {1000}, std::vector<uint8_t>(1000, 3));
  std::ifstream in(dir / "full.gz", std::ios::binary);
  std::vector<uint8_t> gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  gz.resize(gz.size() / 2);
  write_bytes(dir / "cut.gz", gz);
  CHECK_THROWS_AS(read_idx_u8(dir / "cut.gz"), Error);
}

TEST_CASE("MNIST dataset reads generated files and checks them") {
  TempDir dir;
  write_tiny_mnist(dir, "train", 25, true);
  write_tiny_mnist(dir, "t10k", 7, false);
  MnistDataset train(dir.str(), Split::train);
  MnistDataset test(dir.str(), Split::test);
  CHECK(train.size() == 25);
  CHECK(test.size() == 7);
  Generator gen;
  Example e = train.get(3, gen);
  CHECK(e.image.shape() == Shape{1, 28, 28});
  CHECK(e.label == 3);
  CHECK(e.image.at({0, 0, 1}) == doctest::Approx(4.0 / 255));
  CHECK_THROWS_AS(train.get(25, gen), Error);

  TempDir mismatch;
  write_tiny_mnist(mismatch, "train", 5, false);
  write_idx_u8(mismatch / "train-labels-idx1-ubyte", {4}, {1, 2, 3, 4});
  expect_error([&] { MnistDataset(mismatch.str(), Split::train); }, "holds 5 images but");
  write_idx_u8(mismatch / "train-labels-idx1-ubyte", {5}, {1, 2, 3, 4, 12});
  expect_error([&] { MnistDataset(mismatch.str(), Split::train); }, "label 12");
  TempDir empty;
  expect_error([&] { MnistDataset(empty.str(), Split::train); }, "scripts/setup");
}

TEST_CASE("transforms: normalize, random crop with padding, flip") {
  Generator gen(1);
  Tensor img = Tensor::arange(16).reshape({1, 4, 4});
  Tensor n = normalize({1.0f}, {2.0f})(img, gen);
  CHECK(n.at({0, 0, 3}) == doctest::Approx(1.0));
  Tensor crop = random_crop(4, 1)(img, gen);
  CHECK(crop.shape() == Shape{1, 4, 4});
  // Every crop is a shifted copy: each value either comes from the image or is padding.
  for (float v : crop.to_vector<float>()) CHECK((v == 0.0f || (v >= 0 && v < 16)));
  std::set<std::vector<float>> seen;
  for (int i = 0; i < 30; ++i) seen.insert(random_crop(4, 1)(img, gen).to_vector<float>());
  CHECK(seen.size() > 3);
  Tensor flipped = random_horizontal_flip(1.0f)(img, gen);
  CHECK(flipped.at({0, 0, 0}) == 3);
  CHECK_THROWS_AS(random_crop(9, 1)(img, gen), Error);
}

TEST_CASE("DataLoader batches, shuffles by seed and epoch, and drops the last batch on request") {
  auto ds = std::make_shared<MnistDataset>(std::vector<uint8_t>(10 * 4, 0), std::vector<uint8_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 2, 2);
  DataLoader plain(ds, {4, false, 0, false, 0, 1});
  CHECK(plain.batches_per_epoch() == 3);
  plain.start_epoch(0);
  Batch b;
  std::vector<int32_t> labels;
  std::vector<int64_t> sizes;
  while (plain.next(b)) {
    sizes.push_back(b.labels.numel());
    for (int32_t l : b.labels.to_vector<int32_t>()) labels.push_back(l);
    CHECK(b.images.shape()[1] == 1);
  }
  CHECK(sizes == std::vector<int64_t>{4, 4, 2});
  CHECK(labels == std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  DataLoader dropping(ds, {4, false, 0, true, 0, 1});
  CHECK(dropping.batches_per_epoch() == 2);

  DataLoader shuffled(ds, {4, true, 42, false, 0, 1});
  CHECK(shuffled.epoch_order(0) != shuffled.epoch_order(1));
  CHECK(shuffled.epoch_order(0) == DataLoader(ds, {4, true, 42, false, 2, 1}).epoch_order(0));
  auto order = shuffled.epoch_order(3);
  CHECK(std::set<int64_t>(order.begin(), order.end()).size() == 10);
}

TEST_CASE("DataLoader gives the same batches whatever the number of workers") {
  Generator gen(9);
  std::vector<uint8_t> pixels(200 * 28 * 28), labels(200);
  for (auto& p : pixels) p = static_cast<uint8_t>(gen.next_u64());
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<uint8_t>(i % 10);
  auto ds = std::make_shared<MnistDataset>(pixels, labels, 28, 28, random_crop(28, 2));  // random per example
  auto collect = [&](int workers, int64_t first_batch) {
    DataLoader loader(ds, {16, true, 5, false, workers, 3});
    loader.start_epoch(2, first_batch);
    std::vector<std::vector<float>> out;
    Batch b;
    while (loader.next(b)) out.push_back(b.images.to_vector<float>());
    return out;
  };
  const auto reference = collect(0, 0);
  CHECK(reference.size() == 13);
  CHECK(collect(1, 0) == reference);
  CHECK(collect(3, 0) == reference);
  const auto resumed = collect(2, 5);
  REQUIRE(resumed.size() == 8);
  CHECK(resumed.front() == reference[5]);
}

TEST_CASE("DataLoader shards: disjoint, covering, the same shuffle everywhere, padded to equal batches") {
  std::vector<uint8_t> pixels(101 * 4), labels(101);  // each image's first pixel is its index
  for (size_t i = 0; i < labels.size(); ++i) {
    labels[i] = static_cast<uint8_t>(i % 10);
    pixels[i * 4] = static_cast<uint8_t>(i);
  }
  auto ds = std::make_shared<MnistDataset>(pixels, labels, 2, 2);
  const DataLoader whole(ds, {8, true, 7, false, 0, 1});
  for (const int64_t ranks : {2, 3, 4}) {
    std::vector<int64_t> seen;
    int64_t exact_total = 0;
    for (int64_t rank = 0; rank < ranks; ++rank) {
      DataLoader padded(ds, {8, true, 7, false, 0, 1}), exact(ds, {8, true, 7, false, 0, 1});
      padded.set_shard(rank, ranks, true);
      exact.set_shard(rank, ranks, false);
      const auto shard = padded.shard_order(5);
      // Padded: every rank the same number of examples and batches.
      CHECK(static_cast<int64_t>(shard.size()) == (101 + ranks - 1) / ranks);
      CHECK(padded.batches_per_epoch() == (((101 + ranks - 1) / ranks) + 7) / 8);
      // The shard is every ranks-th example of the epoch's one shuffle, from `rank` on.
      const auto order = whole.epoch_order(5);
      for (size_t i = 0; i < shard.size(); ++i)
        CHECK(shard[i] == order[(static_cast<size_t>(rank) + i * static_cast<size_t>(ranks)) % order.size()]);
      seen.insert(seen.end(), shard.begin(), shard.end());
      exact_total += static_cast<int64_t>(exact.shard_order(5).size());
      // The batches hold the shard's examples.
      padded.start_epoch(5);
      Batch b;
      std::vector<int64_t> read;
      while (padded.next(b)) {
        const auto images = b.images.to_vector<float>();
        for (size_t k = 0; k < images.size(); k += 4) read.push_back(std::lround(images[k] * 255));
      }
      CHECK(read == shard);
    }
    // Covering; disjoint but for the padding, which repeats the epoch's first examples.
    const std::set<int64_t> distinct(seen.begin(), seen.end());
    CHECK(distinct.size() == 101);
    CHECK(static_cast<int64_t>(seen.size()) - 101 == (ranks - 101 % ranks) % ranks);
    CHECK(exact_total == 101);
  }
  DataLoader loader(ds, {8, true, 7, false, 0, 1});
  expect_error([&] { loader.set_shard(2, 2, true); }, "shard 2 of 2");
}

TEST_CASE("DataLoader reports a failing example instead of hanging") {
  auto ds = std::make_shared<MnistDataset>(std::vector<uint8_t>(6 * 4, 0), std::vector<uint8_t>{0, 1, 2, 3, 4, 5}, 2, 2,
                                           random_crop(5, 0));  // the crop cannot fit: every example fails
  DataLoader loader(ds, {2, false, 0, false, 2, 2});
  loader.start_epoch(0);
  Batch b;
  CHECK_THROWS_AS(loader.next(b), Error);
}

TEST_CASE("a validation split is seeded, deterministic, disjoint and complete") {
  const SplitIndices a = split_indices(1000, 0.1), b = split_indices(1000, 0.1);
  CHECK(a.val == b.val);
  CHECK(a.train == b.train);
  CHECK(a.val.size() == 100);
  CHECK(a.train.size() == 900);
  std::set<int64_t> all(a.train.begin(), a.train.end());
  for (int64_t i : a.val) CHECK(all.insert(i).second);  // no index in both
  CHECK(all.size() == 1000);
  CHECK(*all.begin() == 0);
  CHECK(*all.rbegin() == 999);
  CHECK(std::is_sorted(a.val.begin(), a.val.end()));
  // Not simply the first or last images, and another seed holds out others.
  CHECK(a.val.front() < 100);
  CHECK(a.val.back() > 900);
  CHECK(split_indices(1000, 0.1, 7).val != a.val);
  CHECK(split_indices(10, 0.01).val.size() == 1);  // at least one image when asked for any
  CHECK(split_indices(10, 0.0).val.empty());
  expect_error([] { split_indices(1, 0.5); }, "leaves no training images");
  expect_error([] { split_indices(10, 1.0); }, "--val-fraction must be in [0, 1)");

  TempDir dir;
  write_tiny_mnist(dir, "train", 50, false);
  auto full = std::make_shared<MnistDataset>(dir.str(), Split::train);
  const SplitIndices split = split_indices(full->size(), 0.2);
  SubsetDataset val(full, split.val);
  CHECK(val.size() == 10);
  Generator g;
  for (int64_t i = 0; i < val.size(); ++i)  // the subset's examples are the base's at its indices
    CHECK(val.get(i, g).label == full->get(split.val[static_cast<size_t>(i)], g).label);
  expect_error([&] { val.get(10, g); }, "out of range");
}
