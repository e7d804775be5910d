#pragma once
// Data parallelism for one model: every rank starts from rank 0's weights, and after each
// backward every gradient becomes its average over the ranks, so with the same optimizer
// every rank holds the same weights after every step.
//
// Gradients travel in buckets of about `bucket_bytes` (parameters in reverse order, the
// order backward finishes them), each packed into one flat buffer and reduced with its own
// non-blocking allreduce, so several buckets are in flight together and a large model needs
// no second copy of all its gradients. The buckets are reduced after backward has finished;
// starting each while backward still runs would need a per-parameter "gradient final"
// signal from autograd, which it does not give yet (docs/distributed.md has the cost).
#include <cstdint>
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

  int64_t buckets() const { return static_cast<int64_t>(buckets_.size()); }
  int64_t gradient_bytes() const;  // per step, per rank
  double seconds_averaging() const { return seconds_; }  // packing, reducing and unpacking

 private:
  struct Bucket {
    size_t first = 0, last = 0;  // parameters [first, last)
    std::vector<float> flat;
  };
  Communicator& comm_;
  std::vector<Tensor> params_;
  std::vector<Bucket> buckets_;
  double seconds_ = 0;
};

}  // namespace intrain::train
