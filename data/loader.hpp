#pragma once
// DataLoader: shuffles (seeded per epoch), shards the epoch among data-parallel ranks,
// batches and collates examples, building the next batches on background worker threads
// through a bounded queue. A batch's content depends
// only on (seed, epoch, batch index), never on the number of workers or on timing.
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "data/dataset.hpp"

namespace intrain::data {

struct Batch {
  Tensor images;  // f32 [B, C, H, W]
  Tensor labels;  // i32 [B]
};

struct LoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = false;
  uint64_t seed = 0;
  bool drop_last = false;
  int workers = 1;   // 0: build batches on the calling thread
  int prefetch = 4;  // batches built ahead of the consumer
};

// A batch size for evaluation that keeps a batch of inputs near `elements` floats (8 MiB by
// default), at most `cap`: 1000 MNIST digits, 13 224x224 photos (MobileNetV2's training run on
// the 200 sample photos peaked at 3.5 GB of resident memory with 55, 2.0 GB with 13).
int64_t evaluation_batch_size(const Dataset& dataset, int64_t cap = 1000, int64_t elements = int64_t{1} << 21);

class DataLoader {
 public:
  DataLoader(DatasetPtr dataset, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  int64_t batches_per_epoch() const;
  const Dataset& dataset() const { return *dataset_; }
  const LoaderOptions& options() const { return options_; }

  // Starts an epoch (stopping any unfinished one), optionally from a batch index, then
  // next() hands out its batches in order and returns false after the last.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  bool next(Batch& batch);

  // The example order of an epoch (identity without shuffle).
  std::vector<int64_t> epoch_order(int64_t epoch) const;

  // Data parallelism, as PyTorch's DistributedSampler: the loader reads shard `rank` of
  // `ranks` of every epoch's order (positions rank, rank + ranks, ...), the same shuffle on
  // every rank. With `pad` the order is first extended by its own beginning to a multiple of
  // `ranks`, so every rank has as many examples and batches as the others (training: the
  // ranks step together); without, the shards are exact and differ by at most one example
  // (evaluation: every example counted once).
  void set_shard(int64_t rank, int64_t ranks, bool pad);
  int64_t shard_rank() const { return shard_rank_; }
  int64_t shards() const { return shards_; }
  // This loader's examples of an epoch in order: its shard of epoch_order(epoch).
  std::vector<int64_t> shard_order(int64_t epoch) const;
  int64_t shard_size() const;  // examples per epoch on this rank

 private:
  Batch build(int64_t batch_index) const;
  void worker_loop();
  void stop_workers();

  DatasetPtr dataset_;
  LoaderOptions options_;
  int64_t epoch_ = 0;
  int64_t shard_rank_ = 0, shards_ = 1;
  bool pad_shards_ = false;
  std::vector<int64_t> order_;
  int64_t next_to_hand_out_ = 0, end_batch_ = 0;

  // Shared with the workers, guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<int64_t, Batch> ready_;
  std::exception_ptr failure_;
  int64_t next_to_build_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace intrain::data
