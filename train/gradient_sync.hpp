#pragma once
// Data parallelism for one model: every rank starts from rank 0's weights, and after each
// backward every gradient becomes its average over the ranks, so with the same optimizer
// every rank holds the same weights after every step.
//
// Gradients travel in buckets of about `bucket_bytes` (parameters in reverse order, the
// order backward finishes them), each packed into one flat buffer and reduced with its own
// non-blocking allreduce, so several buckets are in flight together and a large model needs
// no second copy of all its gradients. With overlap (the default) each bucket starts while
// backward still runs, as soon as autograd reports all of its gradients final (the
// grad-ready hook of core/autograd.hpp); buckets start in the same order on every rank,
// as MPI requires, a bucket waiting for the one before it.
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "nn/module.hpp"
#include "train/distributed.hpp"

namespace intrain::train {

class GradientSync {
 public:
  // 1 MiB: measured with bench/allreduce on 2 ranks (docs/distributed.md); LeNet's 60k
  // parameters are one bucket, MobileNetV2's 3.5M about fourteen.
  static constexpr int64_t kDefaultBucketBytes = int64_t{1} << 20;

  GradientSync(Communicator& comm, const nn::Module& model, int64_t bucket_bytes = kDefaultBucketBytes);

  // Rank 0's parameters and buffers (batch-norm statistics) onto every rank.
  void broadcast_parameters_and_buffers(const nn::Module& model);
  // Rank 0's buffers onto every rank: with per-rank batch-norm statistics, evaluation and
  // checkpoints use rank 0's, as PyTorch's DistributedDataParallel does.
  void broadcast_buffers(const nn::Module& model);
  // Each parameter's gradient replaced by its average over the ranks. A parameter without
  // a gradient on this rank adds zeros and stays without one (the optimizer skips it); a
  // model whose graph differs between ranks would need its gradients created here.
  void average_gradients();
  // loss.backward(), and on return every gradient averaged as by average_gradients(); with
  // overlap, the buckets travel while backward runs.
  void backward(const Tensor& loss);
  void set_overlap(bool on) { overlap_ = on; }
  bool overlaps() const { return overlap_; }

  int64_t buckets() const { return static_cast<int64_t>(buckets_.size()); }
  int64_t gradient_bytes() const;  // per step, per rank
  // Time the step spent on gradients beyond backward itself: packing, starting, waiting for
  // and unpacking the buckets (with overlap, what the reduction did not hide).
  double seconds_averaging() const { return seconds_; }

 private:
  struct Bucket {
    size_t first = 0, last = 0;  // parameters [first, last)
    std::vector<float> flat;
    size_t ready = 0;  // parameters whose gradient is final (during an overlapped backward)
  };
  void pack_and_start(Bucket& bucket);
  void unpack_all();
  void on_grad_ready(const Tensor& leaf);

  Communicator& comm_;
  std::vector<Tensor> params_;
  std::vector<Bucket> buckets_;
  std::unordered_map<const void*, size_t> index_of_;  // a parameter's TensorImpl → its place in params_
  std::vector<size_t> bucket_of_;                     // per parameter
  std::vector<char> ready_;                           // per parameter, during an overlapped backward
  size_t next_bucket_ = 0;                            // the next bucket to start
  bool overlap_ = true;
  double seconds_ = 0;
};

// Rank 0's parameters and buffers onto every rank (what GradientSync does before the first
// step), for commands that change a model outside training: PTQ's AdaRound and bias
// correction work on rank 0's images, and every rank then takes rank 0's result.
void broadcast_model_from_root(Communicator& comm, const nn::Module& model);

// Checks that every f32 parameter and buffer holds the same values on every rank (one
// reduction of each tensor's elements, maxima and negated minima); throws naming the first
// tensor that differs, its element and the range the ranks hold. Returns the tensors compared.
int64_t check_identical_across_ranks(Communicator& comm, const nn::Module& model, const std::string& what);

}  // namespace intrain::train
