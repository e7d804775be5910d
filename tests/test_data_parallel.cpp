// The single-process parts of data parallelism: autograd's grad-ready hook, synchronized
// batch norm and observers under a reducer (with stand-ins for the other processes), and
// the gradient sync on one rank. tests/distributed_runs.sh runs the real thing under mpirun.
#include <doctest.h>

#include <cmath>
#include <vector>

#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "core/tensor_copy.hpp"
#include "nn/layers.hpp"
#include "nn/sync_batch_norm.hpp"
#include "quant/observer.hpp"

using namespace intrain;

namespace {

// Stands for R processes that all hold this process's values: sums are R times larger,
// maxima unchanged. Counts the calls.
class IdenticalProcesses : public nn::CrossProcessReducer {
 public:
  explicit IdenticalProcesses(int processes) : processes_(processes) {}
  void sum(double* v, int64_t n, const char*) override {
    for (int64_t i = 0; i < n; ++i) v[i] *= processes_;
    ++sums;
  }
  void max(double*, int64_t, const char*) override { ++maxima; }
  int sums = 0, maxima = 0;

 private:
  int processes_;
};

// Stands for one other process whose values are `other` (maxima taken with it).
class OtherProcessMax : public nn::CrossProcessReducer {
 public:
  explicit OtherProcessMax(std::vector<double> other) : other_(std::move(other)) {}
  void sum(double*, int64_t, const char*) override {}
  void max(double* v, int64_t n, const char*) override {
    REQUIRE(n == static_cast<int64_t>(other_.size()));
    for (int64_t i = 0; i < n; ++i) v[i] = std::max(v[i], other_[static_cast<size_t>(i)]);
  }

 private:
  std::vector<double> other_;
};

Tensor random_tensor(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return Tensor::randn(shape, gen);
}

// `t` twice along the batch axis: the global batch of two processes that hold the same share.
Tensor twice(const Tensor& t) {
  Shape shape = t.shape();
  const int64_t n = shape[0];
  shape[0] = 2 * n;
  Tensor out = Tensor::empty(shape);
  copy_into(out.narrow(0, 0, n), t);
  copy_into(out.narrow(0, n, n), t);
  return out;
}

double largest_difference(const Tensor& a, const Tensor& b) {
  const auto va = a.contiguous().to_vector<float>(), vb = b.contiguous().to_vector<float>();
  REQUIRE(va.size() == vb.size());
  double worst = 0;
  for (size_t i = 0; i < va.size(); ++i) worst = std::max(worst, static_cast<double>(std::fabs(va[i] - vb[i])));
  return worst;
}

}  // namespace

TEST_CASE("the grad-ready hook reports each leaf once, after its last accumulation") {
  Tensor w = Tensor::from_vector({1.0f, 2.0f}, {2}).set_requires_grad();
  Tensor b = Tensor::from_vector({0.5f, 0.5f}, {2}).set_requires_grad();
  Tensor unused = Tensor::from_vector({3.0f}, {1}).set_requires_grad();
  Tensor x = Tensor::from_vector({3.0f, 4.0f}, {2});
  // w is read twice (once late in the graph, once early), b once.
  Tensor y = sum(add(mul(mul(x, w), w), b));
  std::vector<std::pair<const void*, std::vector<float>>> reported;
  {
    GradReadyHookGuard hook([&](const Tensor& leaf) { reported.emplace_back(leaf.impl(), leaf.grad().to_vector<float>()); });
    y.backward();
  }
  REQUIRE(reported.size() == 2);
  CHECK(reported[0].first == b.impl());
  CHECK(reported[1].first == w.impl());
  CHECK(reported[1].second == std::vector<float>{6.0f, 16.0f});  // d(x·w²)/dw = 2xw: complete when reported
  CHECK(!unused.grad().defined());
  // Without a hook backward is as before; the guard restored "none".
  w.zero_grad();
  sum(mul(x, w)).backward();
  CHECK(reported.size() == 2);
  CHECK(w.grad().to_vector<float>() == std::vector<float>{3.0f, 4.0f});
}

TEST_CASE("synchronized batch norm on two identical processes equals batch norm on their joined batch") {
  const Tensor x = random_tensor({4, 3, 5, 5}, 7);
  const Tensor g = random_tensor({4, 3, 5, 5}, 8);
  auto run = [&](const Tensor& input, const Tensor& grad_out, std::shared_ptr<nn::CrossProcessReducer> reducer) {
    nn::BatchNorm2d bn(3);
    bn.weight.data<float>()[1] = 2.0f;
    bn.bias.data<float>()[2] = -1.0f;
    bn.statistics_reducer = reducer;
    Tensor in = input.clone().set_requires_grad();
    Tensor out = bn(in);
    sum(mul(out, grad_out)).backward();
    return std::vector<Tensor>{out, in.grad(), bn.weight.grad(), bn.bias.grad(), bn.running_mean, bn.running_var};
  };
  auto reducer = std::make_shared<IdenticalProcesses>(2);
  const auto sync = run(x, g, reducer);
  CHECK(reducer->sums == 2);  // forward statistics, backward sums: one reduction each
  const auto joined = run(twice(x), twice(g), nullptr);
  CHECK(largest_difference(sync[0], joined[0].narrow(0, 0, 4)) < 1e-5);
  // The joined loss sums both copies: each copy's input gradient is this process's.
  CHECK(largest_difference(sync[1], joined[1].narrow(0, 0, 4)) < 1e-4);
  // Weight and bias gradients stay this process's share (the ranks' gradients are summed
  // or averaged afterwards): the joined batch's are both shares together.
  CHECK(largest_difference(mul(sync[2], 2.0f), joined[2]) < 1e-3);
  CHECK(largest_difference(mul(sync[3], 2.0f), joined[3]) < 1e-3);
  CHECK(largest_difference(sync[4], joined[4]) < 1e-6);  // running statistics: the global batch's,
  CHECK(largest_difference(sync[5], joined[5]) < 1e-6);  // unbiased over the global count
  // And a model-wide switch reaches every BatchNorm2d.
  nn::Sequential model{std::make_shared<nn::BatchNorm2d>(3), std::make_shared<nn::ReLU>(), std::make_shared<nn::BatchNorm2d>(3)};
  CHECK(nn::synchronize_batch_norm(model, reducer) == 2);
}

TEST_CASE("observers under a reducer take the other processes' batches into their ranges") {
  const Tensor x = Tensor::from_vector({-1.0f, 0.5f, 2.0f, 3.0f}, {2, 2});
  SUBCASE("min-max and moving average: the union of the ranges") {
    quant::ObserverReductionScope scope(std::make_shared<OtherProcessMax>(std::vector<double>{4.0, 1.0}));  // [-4, 1]
    quant::MinMaxObserver minmax;
    minmax.observe(x);
    CHECK(minmax.range().first.item() == -4.0f);
    CHECK(minmax.range().second.item() == 3.0f);
    quant::MovingAverageMinMaxObserver average;
    average.observe(x);
    CHECK(average.range().first.item() == -4.0f);
  }
  SUBCASE("per channel: channel by channel") {
    quant::ObserverReductionScope scope(std::make_shared<OtherProcessMax>(std::vector<double>{1.0, -2.0, 0.0, 5.0}));
    quant::PerChannelMinMaxObserver per_channel(0);
    per_channel.observe(x);
    CHECK(per_channel.range().first.to_vector<float>() == std::vector<float>{-1.0f, 2.0f});
    CHECK(per_channel.range().second.to_vector<float>() == std::vector<float>{0.5f, 5.0f});
  }
  SUBCASE("histogram: two identical processes choose what one does on the doubled data") {
    const Tensor values = random_tensor({4096}, 3);
    quant::HistogramObserver alone(quant::HistogramMethod::percentile, quant::QuantScheme::activation_affine(8), 99.0);
    alone.observe(twice(values));
    auto reducer = std::make_shared<IdenticalProcesses>(2);
    quant::ObserverReductionScope scope(reducer);
    quant::HistogramObserver merged(quant::HistogramMethod::percentile, quant::QuantScheme::activation_affine(8), 99.0);
    merged.observe(values);
    CHECK(reducer->maxima == 1);
    CHECK(reducer->sums == 1);
    CHECK(merged.range().first.item() == alone.range().first.item());
    CHECK(merged.range().second.item() == alone.range().second.item());
  }
  // Out of scope: no reduction.
  quant::MinMaxObserver plain;
  plain.observe(x);
  CHECK(plain.range().first.item() == -1.0f);
}
