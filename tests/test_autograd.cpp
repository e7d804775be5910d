// The autograd engine: accumulation, shared subgraphs, NoGradGuard, detach, retain_graph.
#include <doctest.h>

#include <cmath>

#include "core/autograd.hpp"
#include "core/ops.hpp"

using namespace intrain;

TEST_CASE("backward computes the chain rule and accumulates across calls") {
  Tensor x = Tensor::from_vector({1.0f, 2.0f, 3.0f}, {3}).set_requires_grad();
  Tensor y = sum(mul(x, x));  // dy/dx = 2x
  y.backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{2, 4, 6});
  sum(mul(x, 3.0f)).backward();  // accumulates: + 3
  CHECK(x.grad().to_vector<float>() == std::vector<float>{5, 7, 9});
  x.zero_grad();
  CHECK(!x.grad().defined());
}

TEST_CASE("a tensor used twice receives both gradients") {
  Tensor x = Tensor::from_vector({2.0f}, {1}).set_requires_grad();
  Tensor a = exp(x);
  Tensor y = sum(a * a + a);  // d/dx (e^2x + e^x) = 2e^2x + e^x
  y.backward();
  CHECK(x.grad().item() == doctest::Approx(2 * std::exp(4.0) + std::exp(2.0)));
}

TEST_CASE("a deep chain does not overflow the stack") {
  Tensor x = Tensor::ones({4}).set_requires_grad();
  Tensor y = x;
  for (int i = 0; i < 20000; ++i) y = y * 1.0f;
  sum(y).backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>(4, 1.0f));
}

TEST_CASE("NoGradGuard stops recording; detach cuts the graph") {
  Tensor x = Tensor::ones({2}).set_requires_grad();
  {
    NoGradGuard guard;
    CHECK(!grad_enabled());
    Tensor y = x * 2.0f;
    CHECK(!y.requires_grad());
    CHECK(!y.grad_fn());
  }
  CHECK(grad_enabled());
  Tensor d = (x * 2.0f).detach();
  CHECK(!d.requires_grad());
  Tensor y = x * 2.0f;
  CHECK(y.requires_grad());
  CHECK(y.grad_fn()->op == "mul");
  Tensor z = sum(y * d);  // d is a constant: dz/dx = 2·d = 4
  z.backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{4, 4});
}

TEST_CASE("leaf tensors only: gradients for inputs that require them") {
  Tensor a = Tensor::ones({2}).set_requires_grad();
  Tensor b = Tensor::full({2}, 3.0);  // no grad
  sum(a * b).backward();
  CHECK(a.grad().to_vector<float>() == std::vector<float>{3, 3});
  CHECK(!b.grad().defined());
  CHECK_THROWS_AS((a * 2.0f).set_requires_grad(false), Error);
  CHECK_THROWS_AS(Tensor::ones({2}, DType::i32).set_requires_grad(), Error);
}

TEST_CASE("backward twice needs retain_graph") {
  Tensor x = Tensor::ones({2}).set_requires_grad();
  Tensor y = sum(exp(x));
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  CHECK(x.grad().to_vector<float>()[0] == doctest::Approx(2 * std::exp(1.0)));
  CHECK_THROWS_AS(y.backward(), Error);
}

TEST_CASE("backward on a non-scalar needs an explicit gradient of the right shape") {
  Tensor x = Tensor::ones({3}).set_requires_grad();
  Tensor y = x * 2.0f;
  CHECK_THROWS_AS(y.backward(), Error);
  CHECK_THROWS_AS(y.backward(Tensor::ones({2})), Error);
  y.backward(Tensor::from_vector({1.0f, 0.0f, -1.0f}, {3}));
  CHECK(x.grad().to_vector<float>() == std::vector<float>{2, 0, -2});
  CHECK_THROWS_AS(Tensor::ones({1}).backward(), Error);  // does not require grad
}

TEST_CASE("gradient through views reaches the base") {
  Tensor x = Tensor::arange(6).reshape({2, 3}).detach();
  x.set_requires_grad();
  Tensor y = sum(x.t().narrow(0, 1, 2) * 2.0f);
  y.backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{0, 2, 2, 0, 2, 2});
}

TEST_CASE("a tiny model learns: linear regression by gradient descent") {
  Generator g(3);
  Tensor x = Tensor::randn({64, 3}, g);
  Tensor true_w = Tensor::from_vector({1.5f, -2.0f, 0.5f}, {1, 3});
  Tensor y = linear(x, true_w, Tensor::full({1}, 0.3));
  Tensor w = Tensor::zeros({1, 3}).set_requires_grad();
  Tensor b = Tensor::zeros({1}).set_requires_grad();
  for (int step = 0; step < 200; ++step) {
    Tensor loss = mean(pow(linear(x, w, b) - y, 2.0f));
    w.zero_grad();
    b.zero_grad();
    loss.backward();
    NoGradGuard no_grad;
    for (Tensor* p : {&w, &b}) {
      float* d = p->data<float>();
      const auto grad = p->grad().to_vector<float>();
      for (size_t i = 0; i < grad.size(); ++i) d[i] -= 0.1f * grad[i];
    }
  }
  CHECK(w.at({0, 0}) == doctest::Approx(1.5).epsilon(1e-3));
  CHECK(w.at({0, 1}) == doctest::Approx(-2.0).epsilon(1e-3));
  CHECK(b.item() == doctest::Approx(0.3).epsilon(1e-3));
}
