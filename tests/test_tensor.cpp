// Tensor construction, views that share storage, copies, conversions, printing and RNG.
#include <doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <sstream>

#include "core/ops.hpp"
#include "core/tensor.hpp"

using namespace intrain;

TEST_CASE("factories fill shape, dtype and values") {
  CHECK(Tensor::zeros({2, 3}).to_vector<float>() == std::vector<float>(6, 0.0f));
  CHECK(Tensor::ones({4}, DType::i32).to_vector<int32_t>() == std::vector<int32_t>(4, 1));
  CHECK(Tensor::full({2, 2}, 2.5).to_vector<float>() == std::vector<float>(4, 2.5f));
  CHECK(Tensor::full({3}, 300, DType::u8).to_vector<uint8_t>() == std::vector<uint8_t>(3, 255));  // saturates
  CHECK(Tensor::arange(5).to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4});
  CHECK(Tensor::arange(1, 2, 0.25).to_vector<float>() == std::vector<float>{1, 1.25f, 1.5f, 1.75f});
  CHECK(Tensor::arange(0, 6, 2, DType::i32).to_vector<int32_t>() == std::vector<int32_t>{0, 2, 4});
  Tensor s = Tensor::scalar(3.0f);
  CHECK(s.dim() == 0);
  CHECK(s.numel() == 1);
  CHECK(s.item() == 3.0f);
  Tensor i8 = Tensor::from_vector(std::vector<int8_t>{-128, 0, 127}, {3});
  CHECK(i8.dtype() == DType::i8);
  CHECK(i8.at({0}) == -128);
}

TEST_CASE("storage is 64-byte aligned") {
  for (int64_t n : {1, 3, 17, 1000}) {
    Tensor t = Tensor::empty({n}, DType::u8);
    CHECK(reinterpret_cast<uintptr_t>(t.data<uint8_t>()) % 64 == 0);
  }
}

TEST_CASE("random factories are reproducible from a seed") {
  Generator a(42), b(42), c(43);
  CHECK(Tensor::randn({100}, a).to_vector<float>() == Tensor::randn({100}, b).to_vector<float>());
  CHECK(Tensor::rand({10}, a).to_vector<float>() != Tensor::rand({10}, c).to_vector<float>());
  Tensor u = Tensor::rand({10000}, a, -2, 3);
  CHECK(max(u).item() < 3.0f);
  CHECK(-max(-u).item() >= -2.0f);
  Tensor n = Tensor::randn({20000}, a, 1.0f, 2.0f);
  CHECK(mean(n).item() == doctest::Approx(1.0).epsilon(0.05));
  CHECK(std::sqrt(mean(pow(n - 1.0f, 2.0f)).item()) == doctest::Approx(2.0).epsilon(0.03));
}

TEST_CASE("generator state round-trips") {
  Generator g(7);
  g.normal();  // leaves a spare normal in the state
  const std::string state = g.state();
  const float next = g.normal(), after = g.uniform();
  Generator h;
  h.set_state(state);
  CHECK(h.normal() == next);
  CHECK(h.uniform() == after);
  CHECK_THROWS_AS(h.set_state("not a state"), Error);
}

TEST_CASE("views share storage: reshape, flatten, permute, transpose, narrow") {
  Tensor t = Tensor::arange(24).reshape({2, 3, 4});
  CHECK(t.is_contiguous());
  Tensor r = t.reshape({6, -1});
  CHECK(r.shape() == Shape{6, 4});
  CHECK(r.storage() == t.storage());
  CHECK(t.flatten().shape() == Shape{24});
  CHECK(t.flatten(1).shape() == Shape{2, 12});
  CHECK(t.unsqueeze(0).shape() == Shape{1, 2, 3, 4});
  CHECK(t.unsqueeze(-1).shape() == Shape{2, 3, 4, 1});
  CHECK(t.unsqueeze(0).squeeze(0).shape() == t.shape());

  Tensor p = t.permute({2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.storage() == t.storage());
  CHECK(!p.is_contiguous());
  CHECK(p.at({3, 1, 2}) == t.at({1, 2, 3}));

  Tensor tr = t.transpose(0, 2);
  CHECK(tr.at({1, 2, 0}) == t.at({0, 2, 1}));

  Tensor n = t.narrow(2, 1, 2);
  CHECK(n.shape() == Shape{2, 3, 2});
  CHECK(n.storage() == t.storage());
  CHECK(n.at({1, 0, 0}) == 13);
  // Writing through a view shows in the base.
  n.data<float>()[0] = -1.0f;
  CHECK(t.at({0, 0, 1}) == -1.0f);
}

TEST_CASE("contiguous copies only when needed, and preserves values") {
  Tensor t = Tensor::arange(6).reshape({2, 3});
  CHECK(t.contiguous().storage() == t.storage());
  Tensor c = t.t().contiguous();
  CHECK(c.storage() != t.storage());
  CHECK(c.is_contiguous());
  CHECK(c.to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
  // reshape of a non-contiguous view copies into row-major order
  CHECK(t.t().reshape({6}).to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
  Tensor k = t.clone();
  k.data<float>()[0] = 9;
  CHECK(t.at({0, 0}) == 0);
}

TEST_CASE("dtype conversion truncates toward zero and saturates") {
  Tensor f = Tensor::from_vector({-300.0f, -1.7f, 0.4f, 2.9f, 300.0f, NAN}, {6});
  CHECK(f.to(DType::i8).to_vector<int8_t>() == std::vector<int8_t>{-128, -1, 0, 2, 127, 0});
  CHECK(f.to(DType::u8).to_vector<uint8_t>() == std::vector<uint8_t>{0, 0, 0, 2, 255, 0});
  CHECK(f.to(DType::i32).to(DType::f32).at({4}) == 300);
}

TEST_CASE("printing is readable and summarizes large tensors") {
  Tensor t = Tensor::from_vector({1.0f, -2.5f, 3.25f, 4.0f}, {2, 2});
  const std::string s = t.to_string();
  CHECK(s.find("[[ 1.0000, -2.5000],") != std::string::npos);
  CHECK(s.find("shape=[2, 2], dtype=f32") != std::string::npos);
  std::ostringstream out;
  out << Tensor::arange(5000).reshape({50, 100});
  CHECK(out.str().find("...") != std::string::npos);
  CHECK(out.str().size() < 2000);
  CHECK(Tensor::from_vector(std::vector<int32_t>{1, 2}, {2}).to_string().find("[1, 2]") != std::string::npos);
  CHECK(Tensor().to_string() == "tensor(undefined)");
}

TEST_CASE("broadcasting arithmetic matches the element-by-element definition") {
  Tensor a = Tensor::arange(6).reshape({2, 3, 1});
  Tensor b = Tensor::arange(4).reshape({1, 4});
  Tensor c = a * 10.0f + b;
  CHECK(c.shape() == Shape{2, 3, 4});
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 4; ++k) CHECK(c.at({i, j, k}) == (i * 3 + j) * 10 + k);
  // A strided (non-contiguous) operand goes through the general path.
  Tensor d = Tensor::arange(6).reshape({3, 2}).t() - Tensor::ones({3});
  CHECK(d.to_vector<float>() == std::vector<float>{-1, 1, 3, 0, 2, 4});
  CHECK((2.0f - Tensor::ones({2})).to_vector<float>() == std::vector<float>{1, 1});
  CHECK((Tensor::full({2}, 3) / 2.0f).to_vector<float>() == std::vector<float>{1.5f, 1.5f});
}

TEST_CASE("reductions: sum, mean, max, argmax along dims") {
  Tensor t = Tensor::arange(24).reshape({2, 3, 4});
  CHECK(sum(t).item() == 276);
  CHECK(sum(t, {0}).to_vector<float>()[0] == 12);
  CHECK(sum(t, {1, 2}).to_vector<float>() == std::vector<float>{66, 210});
  CHECK(sum(t, {0, 2}).to_vector<float>() == std::vector<float>{60, 92, 124});
  CHECK(sum(t, {-1}, true).shape() == Shape{2, 3, 1});
  CHECK(mean(t, {2}).to_vector<float>() == std::vector<float>{1.5f, 5.5f, 9.5f, 13.5f, 17.5f, 21.5f});
  MaxResult m = max(t, 1);
  CHECK(m.values.to_vector<float>() == std::vector<float>{8, 9, 10, 11, 20, 21, 22, 23});
  CHECK(m.indices.dtype() == DType::i32);
  CHECK(m.indices.to_vector<int32_t>() == std::vector<int32_t>(8, 2));
  CHECK(argmax(Tensor::from_vector({0.1f, 3.0f, -1.0f, 2.0f, 5.0f, 0.0f}, {2, 3}), 1).to_vector<int32_t>() ==
        std::vector<int32_t>{1, 1});
  CHECK(max(t).item() == 23);
  CHECK(std::isnan(max(Tensor::from_vector({1.0f, NAN, 2.0f}, {3})).item()));
}

TEST_CASE("ops compute known values") {
  Tensor x = Tensor::from_vector({-2.0f, -0.5f, 0.0f, 0.5f, 7.0f}, {5});
  CHECK(relu(x).to_vector<float>() == std::vector<float>{0, 0, 0, 0.5f, 7});
  CHECK(relu6(x).to_vector<float>() == std::vector<float>{0, 0, 0, 0.5f, 6});
  CHECK(clamp(x, -1, 1).to_vector<float>() == std::vector<float>{-1, -0.5f, 0, 0.5f, 1});
  CHECK(sigmoid(Tensor::zeros({1})).item() == doctest::Approx(0.5));
  CHECK(tanh(Tensor::full({1}, 0.5)).item() == doctest::Approx(std::tanh(0.5)));
  Tensor logits = Tensor::from_vector({1.0f, 2.0f, 3.0f, 1.0f, 1.0f, 1.0f}, {2, 3});
  Tensor target = Tensor::from_vector(std::vector<int32_t>{2, 0}, {2});
  const double l0 = -std::log(std::exp(3.0) / (std::exp(1.0) + std::exp(2.0) + std::exp(3.0)));
  const double l1 = std::log(3.0);
  CHECK(cross_entropy(logits, target).item() == doctest::Approx((l0 + l1) / 2));
  CHECK(sum(softmax(logits), {1}).to_vector<float>()[1] == doctest::Approx(1.0));
  // log_softmax of huge logits stays finite
  CHECK(std::isfinite(log_softmax(Tensor::from_vector({1000.0f, 0.0f}, {1, 2})).at({0, 1})));
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor w = Tensor::from_vector({1, 0, 1, 0, 1, 0}, {2, 3});
  CHECK(linear(a, w, Tensor::from_vector({0.5f, -0.5f}, {2})).to_vector<float>() ==
        std::vector<float>{4.5f, 1.5f, 10.5f, 4.5f});
  CHECK(matmul(a, a.t()).to_vector<float>() == std::vector<float>{14, 32, 32, 77});
}

TEST_CASE("batch_norm updates running statistics like PyTorch") {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8}, {4, 2});
  Tensor rm = Tensor::zeros({2}), rv = Tensor::ones({2});
  Tensor y = batch_norm(x, Tensor(), Tensor(), rm, rv, true, 0.1f, 1e-5f);
  CHECK(rm.to_vector<float>()[0] == doctest::Approx(0.1 * 4));     // batch mean of column 0 is 4
  CHECK(rv.to_vector<float>()[0] == doctest::Approx(0.9 + 0.1 * 20.0 / 3.0));  // unbiased variance 6.667
  CHECK(mean(y, {0}).to_vector<float>()[1] == doctest::Approx(0.0).epsilon(1e-6));
  Tensor e = batch_norm(x, Tensor::full({2}, 2), Tensor::full({2}, 1), rm, rv, false);
  CHECK(e.at({0, 0}) == doctest::Approx((1 - 0.4) / std::sqrt(0.9 + 2.0 / 3.0 + 1e-5) * 2 + 1));
}

TEST_CASE("dropout keeps the expectation and is the identity in eval") {
  Tensor x = Tensor::ones({10000});
  Generator g(5);
  Tensor y = dropout(x, 0.25f, true, g);
  const auto v = y.to_vector<float>();
  const auto zeros = std::count(v.begin(), v.end(), 0.0f);
  CHECK(zeros == doctest::Approx(2500).epsilon(0.08));
  CHECK(mean(y).item() == doctest::Approx(1.0).epsilon(0.05));
  CHECK(dropout(x, 0.5f, false).same(x));
}

TEST_CASE("recycled large buffers come back zero-filled from empty(), sized from uninitialized()") {
  // 2 MiB: through the block cache (core/storage.cpp). A freed, dirty block of the same
  // size is handed out again; empty() must still give zeros.
  const Shape big{512, 1024};
  const void* first = nullptr;
  {
    Tensor t = Tensor::full(big, 7.0);
    first = t.data<float>();
  }
  Tensor again = Tensor::empty(big);
  if (!std::getenv("INTRAIN_CACHE_MIB")) CHECK(again.data<float>() == first);  // the same block, recycled
  const float* p = again.data<float>();
  bool all_zero = true;
  for (int64_t i = 0, n = again.numel(); i < n; ++i) all_zero = all_zero && p[i] == 0.0f;
  CHECK(all_zero);
  Tensor raw = Tensor::uninitialized(big, DType::i32);
  CHECK(raw.shape() == big);
  CHECK(raw.dtype() == DType::i32);
  CHECK(raw.is_contiguous());
}
