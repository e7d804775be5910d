#include "data/loader.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

namespace intrain::data {

namespace {

// SplitMix64 finalizer: decorrelates the per-epoch and per-example seeds.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

int64_t evaluation_batch_size(const Dataset& dataset, int64_t cap, int64_t elements) {
  return std::clamp<int64_t>(elements / std::max<int64_t>(1, shape_numel(dataset.example_shape())), 1, cap);
}

DataLoader::DataLoader(DatasetPtr dataset, LoaderOptions options) : dataset_(std::move(dataset)), options_(options) {
  INTRAIN_CHECK(dataset_ != nullptr, "DataLoader: no dataset");
  INTRAIN_CHECK(options_.batch_size >= 1, "DataLoader: batch_size must be >= 1, got ", options_.batch_size);
  INTRAIN_CHECK(options_.workers >= 0 && options_.prefetch >= 1, "DataLoader: workers must be >= 0 and prefetch >= 1");
  INTRAIN_CHECK(dataset_->size() > 0, "DataLoader: the dataset is empty");
}

DataLoader::~DataLoader() { stop_workers(); }

int64_t DataLoader::shard_size() const {
  const int64_t n = dataset_->size();
  return pad_shards_ ? (n + shards_ - 1) / shards_ : (n - shard_rank_ + shards_ - 1) / shards_;
}

void DataLoader::set_shard(int64_t rank, int64_t ranks, bool pad) {
  INTRAIN_CHECK(ranks >= 1 && rank >= 0 && rank < ranks, "DataLoader: shard ", rank, " of ", ranks,
                " does not exist");
  INTRAIN_CHECK(!pad || dataset_->size() >= ranks, "DataLoader: ", dataset_->size(),
                " examples cannot be shared among ", ranks, " ranks");
  stop_workers();
  shard_rank_ = rank;
  shards_ = ranks;
  pad_shards_ = pad;
}

std::vector<int64_t> DataLoader::shard_order(int64_t epoch) const {
  std::vector<int64_t> order = epoch_order(epoch);
  if (shards_ == 1) return order;
  const auto n = static_cast<int64_t>(order.size());
  const int64_t total = pad_shards_ ? shard_size() * shards_ : n;
  std::vector<int64_t> shard;
  shard.reserve(static_cast<size_t>(shard_size()));
  for (int64_t i = shard_rank_; i < total; i += shards_) shard.push_back(order[static_cast<size_t>(i % n)]);
  return shard;
}

int64_t DataLoader::batches_per_epoch() const {
  const int64_t n = shard_size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<int64_t> DataLoader::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order(static_cast<size_t>(dataset_->size()));
  std::iota(order.begin(), order.end(), 0);
  if (options_.shuffle) {
    Generator gen(mix(options_.seed ^ mix(static_cast<uint64_t>(epoch))));
    for (size_t i = order.size(); i-- > 1;) std::swap(order[i], order[gen.next_u64() % (i + 1)]);
  }
  return order;
}

Batch DataLoader::build(int64_t batch_index) const {
  const int64_t begin = batch_index * options_.batch_size;
  const int64_t end = std::min<int64_t>(begin + options_.batch_size, static_cast<int64_t>(order_.size()));
  const Shape example_shape = dataset_->example_shape();
  Shape batch_shape{end - begin};
  batch_shape.insert(batch_shape.end(), example_shape.begin(), example_shape.end());
  Batch batch{Tensor::empty(batch_shape), Tensor::empty({end - begin}, DType::i32)};
  const int64_t per_example = shape_numel(example_shape);
  float* images = batch.images.data<float>();
  int32_t* labels = batch.labels.data<int32_t>();
  for (int64_t i = begin; i < end; ++i) {
    const int64_t index = order_[static_cast<size_t>(i)];
    Generator gen(mix(options_.seed ^ mix(static_cast<uint64_t>(epoch_) * 0x100000001ULL + static_cast<uint64_t>(index))));
    Example example = dataset_->get(index, gen);
    INTRAIN_CHECK(example.image.shape() == example_shape, "DataLoader: example ", index, " has shape ",
                  shape_str(example.image.shape()), ", the dataset declares ", shape_str(example_shape));
    Tensor image = example.image.contiguous();
    std::memcpy(images + (i - begin) * per_example, image.data<float>(), static_cast<size_t>(per_example) * sizeof(float));
    labels[i - begin] = example.label;
  }
  return batch;
}

void DataLoader::worker_loop() {
  while (true) {
    int64_t index;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] {
        return stopping_ || next_to_build_ >= end_batch_ ||
               next_to_build_ < next_to_hand_out_ + options_.prefetch;
      });
      if (stopping_ || next_to_build_ >= end_batch_) return;
      index = next_to_build_++;
    }
    try {
      Batch batch = build(index);
      std::lock_guard lock(mutex_);
      ready_.emplace(index, std::move(batch));
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!failure_) failure_ = std::current_exception();
    }
    changed_.notify_all();
  }
}

void DataLoader::stop_workers() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  ready_.clear();
  failure_ = nullptr;
  stopping_ = false;
}

void DataLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  stop_workers();
  INTRAIN_CHECK(first_batch >= 0 && first_batch <= batches_per_epoch(), "DataLoader: first batch ", first_batch,
                " is outside the epoch's ", batches_per_epoch(), " batches");
  epoch_ = epoch;
  order_ = shard_order(epoch);
  next_to_hand_out_ = next_to_build_ = first_batch;
  end_batch_ = batches_per_epoch();
  for (int w = 0; w < options_.workers; ++w) workers_.emplace_back([this] { worker_loop(); });
}

bool DataLoader::next(Batch& batch) {
  if (next_to_hand_out_ >= end_batch_) return false;
  if (options_.workers == 0) {
    batch = build(next_to_hand_out_++);
    return true;
  }
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return failure_ || ready_.count(next_to_hand_out_); });
  if (failure_) std::rethrow_exception(failure_);
  auto found = ready_.find(next_to_hand_out_);
  batch = std::move(found->second);
  ready_.erase(found);
  ++next_to_hand_out_;
  lock.unlock();
  changed_.notify_all();
  return true;
}

}  // namespace intrain::data
