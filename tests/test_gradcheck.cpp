// A finite-difference gradient check for every differentiable op.
#include <doctest.h>

#include "tests/gradcheck.hpp"

using namespace intrain;
using intrain::testing::check_gradients;
using intrain::testing::randn_avoiding;

namespace {
Tensor rnd(const Shape& s, uint64_t seed, float scale = 1.0f) {
  Generator g(seed);
  return Tensor::randn(s, g, 0.0f, scale);
}
Tensor positive(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return Tensor::rand(s, g, 0.5f, 2.0f);
}
}  // namespace

TEST_CASE("gradcheck: add, sub, mul, div with broadcasting") {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{2, 3, 4}, {3, 1}}, {{1, 4}, {3, 1}}, {{2, 1, 3}, {1}}, {{}, {2, 2}}};
  for (const auto& [sa, sb] : cases) {
    CAPTURE(shape_str(sa));
    CAPTURE(shape_str(sb));
    check_gradients([](auto& in) { return add(in[0], in[1]); }, {rnd(sa, 1), rnd(sb, 2)});
    check_gradients([](auto& in) { return sub(in[0], in[1]); }, {rnd(sa, 3), rnd(sb, 4)});
    check_gradients([](auto& in) { return mul(in[0], in[1]); }, {rnd(sa, 5), rnd(sb, 6)});
    check_gradients([](auto& in) { return div(in[0], in[1]); }, {rnd(sa, 7), positive(sb, 8)});
  }
}

TEST_CASE("gradcheck: scalar arithmetic and unary ops") {
  check_gradients([](auto& in) { return in[0] * 3.0f + 1.5f; }, {rnd({5}, 1)});
  check_gradients([](auto& in) { return neg(in[0]); }, {rnd({2, 3}, 2)});
  check_gradients([](auto& in) { return exp(in[0]); }, {rnd({2, 3}, 3)});
  check_gradients([](auto& in) { return log(in[0]); }, {positive({2, 3}, 4)});
  check_gradients([](auto& in) { return sqrt(in[0]); }, {positive({2, 3}, 5)});
  check_gradients([](auto& in) { return pow(in[0], 3.0f); }, {rnd({2, 3}, 6)});
  check_gradients([](auto& in) { return pow(in[0], 2.0f); }, {rnd({2, 3}, 7)});
  check_gradients([](auto& in) { return pow(in[0], -1.5f); }, {positive({2, 3}, 8)});
  check_gradients([](auto& in) { return abs(in[0]); }, {randn_avoiding({2, 3}, 9, {0.0f})});
}

TEST_CASE("gradcheck: sum and mean, all and along dims") {
  Tensor x = rnd({2, 3, 4}, 9);
  check_gradients([](auto& in) { return sum(in[0]); }, {x.clone()});
  check_gradients([](auto& in) { return mean(in[0]); }, {x.clone()});
  for (std::vector<int64_t> dims : {std::vector<int64_t>{0}, {1}, {2}, {0, 2}, {-1}, {0, 1}}) {
    check_gradients([dims](auto& in) { return sum(in[0], dims); }, {x.clone()});
    check_gradients([dims](auto& in) { return mean(in[0], dims, true); }, {x.clone()});
  }
}

TEST_CASE("gradcheck: max over all and along a dim") {
  // Distinct values spaced well beyond eps, so the argmax cannot flip under perturbation.
  Tensor x = Tensor::from_vector({0.3f, -1.2f, 2.5f, 0.9f, -0.4f, 1.7f, 3.1f, -2.2f, 0.0f, 1.1f, -0.8f, 2.0f}, {3, 4});
  check_gradients([](auto& in) { return max(in[0]); }, {x.clone()});
  check_gradients([](auto& in) { return max(in[0], 0).values; }, {x.clone()});
  check_gradients([](auto& in) { return max(in[0], 1, true).values; }, {x.clone()});
}

TEST_CASE("gradcheck: activations") {
  check_gradients([](auto& in) { return relu(in[0]); }, {randn_avoiding({3, 5}, 10, {0.0f})});
  check_gradients([](auto& in) { return relu6(in[0]); }, {randn_avoiding({3, 5}, 11, {0.0f, 6.0f}, 0.05f, 4.0f)});
  check_gradients([](auto& in) { return clamp(in[0], -0.5f, 0.7f); }, {randn_avoiding({3, 5}, 12, {-0.5f, 0.7f})});
  check_gradients([](auto& in) { return sigmoid(in[0]); }, {rnd({3, 5}, 13, 2.0f)});
  check_gradients([](auto& in) { return tanh(in[0]); }, {rnd({3, 5}, 14, 2.0f)});
}

TEST_CASE("gradcheck: matmul and linear") {
  check_gradients([](auto& in) { return matmul(in[0], in[1]); }, {rnd({3, 4}, 15), rnd({4, 5}, 16)});
  check_gradients([](auto& in) { return matmul(in[0].t(), in[1]); }, {rnd({4, 3}, 17), rnd({4, 5}, 18)});
  check_gradients([](auto& in) { return matmul(in[0], in[1]); }, {rnd({2, 3, 4}, 19), rnd({2, 4, 2}, 20)});
  check_gradients([](auto& in) { return matmul(in[0], in[1]); }, {rnd({2, 3, 4}, 21), rnd({4, 2}, 22)});
  check_gradients([](auto& in) { return linear(in[0], in[1], in[2]); },
                  {rnd({4, 6}, 23), rnd({3, 6}, 24), rnd({3}, 25)});
  check_gradients([](auto& in) { return linear(in[0], in[1]); }, {rnd({2, 2, 6}, 26), rnd({3, 6}, 27)});
}

TEST_CASE("gradcheck: conv2d with stride, padding, dilation and groups") {
  struct Case {
    Shape x, w;
    Conv2dOptions o;
    bool bias;
  };
  const std::vector<Case> cases = {
      {{2, 3, 6, 6}, {4, 3, 3, 3}, Conv2dOptions::square(1, 1), true},
      {{1, 2, 7, 5}, {3, 2, 3, 2}, {2, 1, 1, 0, 1, 1, 1}, true},
      {{1, 2, 7, 7}, {2, 2, 3, 3}, Conv2dOptions::square(1, 2, 2), false},
      {{2, 4, 5, 5}, {6, 2, 3, 3}, Conv2dOptions::square(1, 1, 1, 2), true},
      {{1, 3, 6, 6}, {3, 1, 3, 3}, Conv2dOptions::square(2, 1, 1, 3), true},  // depthwise, stride 2
      {{2, 4, 4, 4}, {5, 4, 1, 1}, {}, true},                                 // pointwise
  };
  for (const Case& c : cases) {
    CAPTURE(shape_str(c.x));
    CAPTURE(shape_str(c.w));
    const Conv2dOptions o = c.o;
    if (c.bias)
      check_gradients([o](auto& in) { return conv2d(in[0], in[1], in[2], o); },
                      {rnd(c.x, 30), rnd(c.w, 31, 0.5f), rnd({c.w[0]}, 32)});
    else
      check_gradients([o](auto& in) { return conv2d(in[0], in[1], Tensor(), o); },
                      {rnd(c.x, 33), rnd(c.w, 34, 0.5f)});
  }
}

TEST_CASE("gradcheck: pooling") {
  // Max pooling: distinct values with gaps larger than 2·eps keep every argmax stable.
  Generator gen(40);
  std::vector<float> values(2 * 2 * 5 * 5);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.1f * static_cast<float>(i);
  for (size_t i = values.size(); i-- > 1;) std::swap(values[i], values[gen.next_u64() % (i + 1)]);
  Tensor x = Tensor::from_vector(values, {2, 2, 5, 5});
  check_gradients([](auto& in) { return max_pool2d(in[0], Pool2dOptions::square(2)); }, {x.clone()});
  check_gradients([](auto& in) { return max_pool2d(in[0], Pool2dOptions::square(3, 2, 1)); }, {x.clone()});
  check_gradients([](auto& in) { return avg_pool2d(in[0], Pool2dOptions::square(2)); }, {rnd({2, 2, 5, 5}, 41)});
  check_gradients([](auto& in) { return avg_pool2d(in[0], Pool2dOptions::square(3, 2, 1)); }, {rnd({1, 2, 6, 5}, 42)});
  check_gradients([](auto& in) { return global_avg_pool2d(in[0]); }, {rnd({2, 3, 4, 3}, 43)});
}

TEST_CASE("gradcheck: batch_norm in training and eval mode") {
  for (bool training : {true, false}) {
    CAPTURE(training);
    Tensor running_mean = rnd({3}, 50, 0.1f), running_var = positive({3}, 51);
    check_gradients(
        [&](auto& in) { return batch_norm(in[0], in[1], in[2], running_mean, running_var, training); },
        {rnd({4, 3, 2, 2}, 52, 2.0f), positive({3}, 53), rnd({3}, 54)}, {1e-2f, 3e-2, 3e-3});
    check_gradients([&](auto& in) { return batch_norm(in[0], Tensor(), Tensor(), running_mean, running_var, training); },
                    {rnd({5, 3}, 55, 2.0f)}, {1e-2f, 3e-2, 3e-3});
    // Runs of 35 values: whole vectors and a tail in the SIMD kernels.
    check_gradients(
        [&](auto& in) { return batch_norm(in[0], in[1], in[2], running_mean, running_var, training); },
        {rnd({2, 3, 5, 7}, 56, 2.0f), positive({3}, 57), rnd({3}, 58)}, {1e-2f, 3e-2, 3e-3});
  }
}

TEST_CASE("gradcheck: dropout with a seeded mask") {
  check_gradients([](auto& in) {
    Generator gen(60);
    return dropout(in[0], 0.3f, true, gen);
  }, {rnd({4, 5}, 61)});
}

TEST_CASE("gradcheck: log_softmax, softmax, nll_loss, cross_entropy") {
  Tensor target = Tensor::from_vector(std::vector<int32_t>{2, 0, 4}, {3});
  check_gradients([](auto& in) { return log_softmax(in[0], 1); }, {rnd({3, 5}, 70, 2.0f)});
  check_gradients([](auto& in) { return log_softmax(in[0], 0); }, {rnd({3, 5}, 71, 2.0f)});
  check_gradients([](auto& in) { return softmax(in[0], -1); }, {rnd({2, 3, 4}, 72)});
  check_gradients([&](auto& in) { return nll_loss(log_softmax(in[0]), target); }, {rnd({3, 5}, 73)});
  check_gradients([&](auto& in) { return nll_loss(in[0], target, Reduction::none); }, {rnd({3, 5}, 74)});
  check_gradients([&](auto& in) { return cross_entropy(in[0], target); }, {rnd({3, 5}, 75, 3.0f)});
  check_gradients([&](auto& in) { return cross_entropy(in[0], target, Reduction::sum); }, {rnd({3, 5}, 76)});
}

TEST_CASE("gradcheck: views (reshape, permute, transpose, narrow, flatten)") {
  check_gradients([](auto& in) { return mul(in[0].reshape({3, 4}), in[1]); }, {rnd({2, 6}, 80), rnd({3, 4}, 81)});
  check_gradients([](auto& in) { return exp(in[0].permute({2, 0, 1})); }, {rnd({2, 3, 4}, 82)});
  check_gradients([](auto& in) { return matmul(in[0].transpose(0, 1), in[0]); }, {rnd({3, 2}, 83)});
  check_gradients([](auto& in) { return mul(in[0].narrow(1, 1, 2), 2.0f); }, {rnd({3, 4}, 84)});
  check_gradients([](auto& in) { return in[0].flatten(1).contiguous(); }, {rnd({2, 3, 2}, 85)});
}
