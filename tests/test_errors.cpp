// Bad input throws intrain::Error whose message names the op and the offending shapes or
// dtypes; nothing aborts.
#include <doctest.h>

#include <string>

#include "core/ops.hpp"
#include "tests/expect_error.hpp"
#include "core/threads.hpp"

using namespace intrain;

namespace {

// Requires an intrain::Error whose message contains every needle.
template <class F>
void expect_error(F&& f, std::initializer_list<const char*> needles) {
  for (const char* needle : needles) intrain::testing::expect_error(f, needle);
}

}  // namespace

TEST_CASE("shape errors name the op and both shapes") {
  expect_error([] { add(Tensor::ones({2, 3}), Tensor::ones({4})); }, {"add", "[2, 3]", "[4]"});
  expect_error([] { matmul(Tensor::ones({2, 3}), Tensor::ones({4, 5})); }, {"matmul", "[2, 3]", "[4, 5]"});
  expect_error([] { matmul(Tensor::ones({3}), Tensor::ones({3})); }, {"matmul"});
  expect_error([] { linear(Tensor::ones({2, 3}), Tensor::ones({4, 5})); }, {"linear", "[2, 3]", "[4, 5]"});
  expect_error([] { linear(Tensor::ones({2, 5}), Tensor::ones({4, 5}), Tensor::ones({3})); }, {"linear", "bias"});
  expect_error([] { Tensor::ones({6}).reshape({4, -1}); }, {"reshape", "[4, -1]"});
  expect_error([] { Tensor::ones({6}).reshape({2, 2}); }, {"reshape", "[2, 2]"});
  expect_error([] { Tensor::ones({2, 3}).permute({0, 0}); }, {"permute"});
  expect_error([] { Tensor::ones({2, 3}).narrow(1, 2, 2); }, {"narrow"});
  expect_error([] { Tensor::ones({2, 3}).transpose(0, 2); }, {"transpose", "rank 2"});
  expect_error([] { sum(Tensor::ones({2, 3}), {3}); }, {"sum"});
  expect_error([] { Tensor::from_vector({1.0f, 2.0f}, {3}); }, {"from_vector", "[3]"});
  expect_error([] { Tensor::ones({2}).at({2}); }, {"Tensor::at"});
  expect_error([] { Tensor::ones({2}).item(); }, {"item", "[2]"});
}

TEST_CASE("conv2d and pooling reject mismatched inputs") {
  expect_error([] { conv2d(Tensor::ones({1, 3, 8, 8}), Tensor::ones({4, 2, 3, 3})); },
               {"conv2d", "[4, 2, 3, 3]", "[1, 3, 8, 8]"});
  expect_error([] { conv2d(Tensor::ones({3, 8, 8}), Tensor::ones({4, 3, 3, 3})); }, {"conv2d", "[3, 8, 8]"});
  expect_error([] { conv2d(Tensor::ones({1, 3, 2, 2}), Tensor::ones({4, 3, 3, 3})); }, {"conv2d", "smaller"});
  expect_error([] { conv2d(Tensor::ones({1, 4, 8, 8}), Tensor::ones({3, 2, 3, 3}), Tensor(),
                           Conv2dOptions::square(1, 0, 1, 2)); },
               {"conv2d", "groups"});
  expect_error([] { conv2d(Tensor::ones({1, 3, 8, 8}), Tensor::ones({4, 3, 3, 3}), Tensor::ones({5})); },
               {"conv2d", "bias", "[5]"});
  expect_error([] { max_pool2d(Tensor::ones({1, 1, 3, 3}), Pool2dOptions::square(4)); }, {"max_pool2d", "smaller"});
  expect_error([] { avg_pool2d(Tensor::ones({1, 3, 3}), Pool2dOptions::square(2)); }, {"avg_pool2d", "[1, 3, 3]"});
  expect_error([] { max_pool2d(Tensor::ones({1, 1, 8, 8}), Pool2dOptions::square(2, 2, 2)); }, {"max_pool2d", "padding"});
}

TEST_CASE("dtype errors name the op and the dtype") {
  Tensor labels = Tensor::zeros({2}, DType::i32);
  expect_error([&] { exp(labels); }, {"exp", "i32"});
  expect_error([&] { add(Tensor::ones({2}), labels); }, {"add", "i32"});
  expect_error([] { nll_loss(Tensor::zeros({2, 3}), Tensor::zeros({2})); }, {"nll_loss", "i32", "f32"});
  expect_error([] { Tensor::ones({2}).data<int8_t>(); }, {"f32", "i8"});
}

TEST_CASE("losses and normalization check their arguments") {
  Tensor target = Tensor::from_vector(std::vector<int32_t>{0, 5}, {2});
  expect_error([&] { cross_entropy(Tensor::zeros({2, 3}), target); }, {"nll_loss", "5", "[0, 3)"});
  expect_error([] { nll_loss(Tensor::zeros({2, 3}), Tensor::zeros({3}, DType::i32)); }, {"nll_loss", "[3]"});
  expect_error([] { batch_norm(Tensor::ones({4, 3}), Tensor::ones({2}), Tensor(), Tensor(), Tensor(), true); },
               {"batch_norm", "weight", "[2]"});
  expect_error([] { batch_norm(Tensor::ones({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true); },
               {"batch_norm", "more than one value"});
  expect_error([] { batch_norm(Tensor::ones({4, 3}), Tensor(), Tensor(), Tensor(), Tensor(), false); },
               {"batch_norm", "running"});
  expect_error([] { dropout(Tensor::ones({2}), 1.0f, true); }, {"dropout", "[0, 1)"});
  expect_error([] { clamp(Tensor::ones({2}), 1.0f, 0.0f); }, {"clamp"});
  expect_error([] { log_softmax(Tensor::ones({2, 3}), 2); }, {"log_softmax"});
}

TEST_CASE("undefined tensors and bad settings are errors, not crashes") {
  expect_error([] { Tensor().shape(); }, {"undefined"});
  expect_error([] { add(Tensor(), Tensor::ones({1})); }, {"add", "undefined"});
  expect_error([] { Tensor::zeros({-1}); }, {"negative"});
  expect_error([] { set_num_threads(0); }, {"set_num_threads"});
  expect_error([] { Tensor::arange(0, 1, 0); }, {"arange"});
}
