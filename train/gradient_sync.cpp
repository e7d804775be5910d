#include "train/gradient_sync.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/autograd.hpp"
#include "core/error.hpp"

namespace intrain::train {

namespace {

// The bytes of a contiguous tensor, for broadcasting it whatever its element type.
void* bytes_of(Tensor& t) {
  INTRAIN_CHECK(t.is_contiguous(), "data parallelism: a parameter or buffer is not contiguous");
  switch (t.dtype()) {
    case DType::f32: return t.data<float>();
    case DType::i32: return t.data<int32_t>();
    case DType::i8: return t.data<int8_t>();
    case DType::u8: return t.data<uint8_t>();
  }
  return nullptr;
}

void broadcast_all(Communicator& comm, const std::vector<std::pair<std::string, Tensor>>& named, const char* what) {
  for (auto [name, t] : named)
    comm.broadcast(bytes_of(t), t.numel() * static_cast<int64_t>(dtype_size(t.dtype())), what);
}

}  // namespace

GradientSync::GradientSync(Communicator& comm, const nn::Module& model, int64_t bucket_bytes) : comm_(comm) {
  INTRAIN_CHECK(bucket_bytes >= 4, "gradient bucket size must be at least 4 bytes, got ", bucket_bytes);
  for (const auto& [name, p] : model.named_parameters())
    if (p.requires_grad() && p.dtype() == DType::f32) params_.push_back(p);
  // Backward reaches the last layers first: reversed, the first bucket fills first.
  std::reverse(params_.begin(), params_.end());
  const auto elements = static_cast<size_t>(bucket_bytes / 4);
  for (size_t i = 0; i < params_.size();) {
    Bucket bucket{i, i, {}};
    size_t size = 0;
    do size += static_cast<size_t>(params_[bucket.last++].numel());
    while (bucket.last < params_.size() && size + static_cast<size_t>(params_[bucket.last].numel()) <= elements);
    bucket.flat.resize(size);
    buckets_.push_back(std::move(bucket));
    i = buckets_.back().last;
  }
  bucket_of_.resize(params_.size());
  for (size_t b = 0; b < buckets_.size(); ++b)
    for (size_t i = buckets_[b].first; i < buckets_[b].last; ++i) bucket_of_[i] = b;
  for (size_t i = 0; i < params_.size(); ++i) index_of_.emplace(params_[i].impl(), i);
  ready_.assign(params_.size(), 0);
}

int64_t GradientSync::gradient_bytes() const {
  int64_t bytes = 0;
  for (const Bucket& b : buckets_) bytes += static_cast<int64_t>(b.flat.size() * sizeof(float));
  return bytes;
}

void GradientSync::broadcast_parameters_and_buffers(const nn::Module& model) {
  broadcast_all(comm_, model.named_parameters(), "broadcast of rank 0's initial weights");
  broadcast_buffers(model);
}

void GradientSync::broadcast_buffers(const nn::Module& model) {
  broadcast_all(comm_, model.named_buffers(), "broadcast of rank 0's buffers (batch-norm statistics)");
}

void GradientSync::pack_and_start(Bucket& bucket) {
  float* at = bucket.flat.data();
  for (size_t i = bucket.first; i < bucket.last; ++i) {
    const Tensor grad = params_[i].grad();
    const auto n = static_cast<size_t>(params_[i].numel());
    if (grad.defined())
      std::memcpy(at, grad.contiguous().data<float>(), n * sizeof(float));
    else
      std::memset(at, 0, n * sizeof(float));
    at += n;
  }
  comm_.start_allreduce_sum(bucket.flat.data(), static_cast<int64_t>(bucket.flat.size()));
}

void GradientSync::unpack_all() {
  comm_.wait_all("gradient allreduce");
  const float scale = 1.0f / static_cast<float>(comm_.size());
  for (Bucket& bucket : buckets_) {
    const float* at = bucket.flat.data();
    for (size_t i = bucket.first; i < bucket.last; ++i) {
      Tensor grad = params_[i].grad();
      const int64_t n = params_[i].numel();
      if (grad.defined()) {
        float* g = grad.data<float>();  // accumulated gradients are contiguous and owned
        for (int64_t k = 0; k < n; ++k) g[k] = at[k] * scale;
      }
      at += n;
    }
  }
}

void GradientSync::average_gradients() {
  if (!comm_.distributed()) return;
  const auto start = std::chrono::steady_clock::now();
  for (Bucket& bucket : buckets_) pack_and_start(bucket);
  unpack_all();
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void GradientSync::on_grad_ready(const Tensor& leaf) {
  const auto found = index_of_.find(leaf.impl());
  if (found == index_of_.end() || ready_[found->second]) return;
  const auto start = std::chrono::steady_clock::now();
  ready_[found->second] = 1;
  ++buckets_[bucket_of_[found->second]].ready;
  while (next_bucket_ < buckets_.size() &&
         buckets_[next_bucket_].ready == buckets_[next_bucket_].last - buckets_[next_bucket_].first)
    pack_and_start(buckets_[next_bucket_++]);
  comm_.progress();
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void GradientSync::backward(const Tensor& loss) {
  if (!comm_.distributed()) return loss.backward();
  if (!overlap_) {
    loss.backward();
    return average_gradients();
  }
  std::fill(ready_.begin(), ready_.end(), 0);
  for (Bucket& bucket : buckets_) bucket.ready = 0;
  next_bucket_ = 0;
  {
    GradReadyHookGuard hook([this](const Tensor& leaf) { on_grad_ready(leaf); });
    loss.backward();
  }
  const auto start = std::chrono::steady_clock::now();
  // Parameters that backward never reached (unused this step) hold their buckets back.
  while (next_bucket_ < buckets_.size()) pack_and_start(buckets_[next_bucket_++]);
  unpack_all();
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void broadcast_model_from_root(Communicator& comm, const nn::Module& model) {
  broadcast_all(comm, model.named_parameters(), "broadcast of rank 0's weights");
  broadcast_all(comm, model.named_buffers(), "broadcast of rank 0's buffers");
}

int64_t check_identical_across_ranks(Communicator& comm, const nn::Module& model, const std::string& what) {
  auto named = model.named_parameters();
  for (auto& nb : model.named_buffers()) named.push_back(nb);
  std::vector<std::pair<std::string, Tensor>> compared;
  std::vector<double> values;  // per element: its maximum, then its negated value (the minimum)
  for (const auto& [name, t] : named) {
    if (t.dtype() != DType::f32) continue;
    const std::vector<float> v = t.contiguous().to_vector<float>();
    for (float x : v) values.push_back(x);
    for (float x : v) values.push_back(-static_cast<double>(x));
    compared.emplace_back(name, t);
  }
  comm.allreduce_max(values.data(), static_cast<int64_t>(values.size()), "comparison of the ranks' models");
  size_t at = 0;
  for (const auto& [name, t] : compared) {
    const auto n = static_cast<size_t>(t.numel());
    for (size_t i = 0; i < n; ++i) {
      const double largest = values[at + i], smallest = -values[at + n + i];
      INTRAIN_CHECK(largest == smallest, what, ": '", name, "' element ", i, " differs between the ", comm.size(),
                    " ranks (from ", smallest, " to ", largest, ")");
    }
    at += 2 * n;
  }
  return static_cast<int64_t>(compared.size());
}

}  // namespace intrain::train
