// Modules, state_dict, summaries, initializers, losses, optimizers and LR schedules.
#include <doctest.h>

#include <cmath>

#include "core/autograd.hpp"
#include "core/tensor_copy.hpp"
#include "models/lenet.hpp"
#include "nn/init.hpp"
#include "nn/layers.hpp"
#include "nn/loss.hpp"
#include "nn/lr_schedule.hpp"
#include "nn/optimizer.hpp"
#include "nn/summary.hpp"

using namespace intrain;
using namespace intrain::nn;

TEST_CASE("named parameters and buffers use dotted module paths") {
  Generator gen(1);
  auto model = models::lenet5_bn(gen);
  const auto params = model->named_parameters();
  CHECK(params.front().first == "conv1.weight");
  CHECK(params.back().first == "fc2.bias");
  const auto buffers = model->named_buffers();
  CHECK(buffers.front().first == "bn1.running_mean");
  CHECK(model->state_dict().count("bn3.num_batches_tracked") == 1);
  CHECK(models::lenet(gen)->parameter_count() == 431080);
  CHECK(model->parameter_count() == 61990);
  auto nested = make<Sequential>(std::initializer_list<ModulePtr>{
      make<Residual>(make<Sequential>(std::initializer_list<ModulePtr>{make<Linear>(4, 4, true, gen)}))});
  CHECK(nested->named_parameters().front().first == "0.body.0.weight");
  // A transparent (empty-named) child puts its members on its parent's path; clashes are refused.
  auto flat = make<Sequential>(std::initializer_list<std::pair<std::string, ModulePtr>>{
      {"", make<Sequential>(std::initializer_list<std::pair<std::string, ModulePtr>>{{"fc", make<Linear>(2, 2, true, gen)}})},
      {"out", make<Linear>(2, 2, true, gen)}});
  CHECK(flat->named_parameters().front().first == "fc.weight");
  CHECK(flat->state_dict().count("out.bias") == 1);
  auto clash = make<Sequential>(std::initializer_list<std::pair<std::string, ModulePtr>>{
      {"", make<Sequential>(std::initializer_list<std::pair<std::string, ModulePtr>>{{"fc", make<Linear>(2, 2, true, gen)}})},
      {"fc", make<Linear>(2, 2, true, gen)}});
  CHECK_THROWS_WITH_AS(clash->state_dict(), doctest::Contains("share the path 'fc.weight'"), Error);
  CHECK_THROWS_AS(flat->replace_child(2, make<Identity>()), Error);
  flat->replace_child(0, make<Identity>());  // by position: the transparent child too
  CHECK(flat->state_dict().size() == 2);
}

TEST_CASE("train() and eval() reach every child; dropout and batch norm follow them") {
  Generator gen(2);
  auto model = models::lenet5_bn(gen);
  model->eval();
  for (auto& [name, m] : model->named_modules()) CHECK(!m->is_training());
  Tensor x = Tensor::randn({2, 1, 28, 28}, gen);
  NoGradGuard no_grad;
  CHECK((*model)(x).to_vector<float>() == (*model)(x).to_vector<float>());  // deterministic in eval
  model->train();
  CHECK((*model)(x).to_vector<float>() != (*model)(x).to_vector<float>());  // dropout in training
}

TEST_CASE("state_dict round trip restores outputs exactly") {
  Generator a(3), b(4);
  auto source = models::lenet5_bn(a), target = models::lenet5_bn(b);
  Tensor x = Tensor::randn({4, 1, 28, 28}, a);
  (*source)(x);  // moves the running statistics
  source->eval();
  target->load_state_dict(source->state_dict());
  target->eval();
  NoGradGuard no_grad;
  CHECK((*source)(x).to_vector<float>() == (*target)(x).to_vector<float>());
}

TEST_CASE("load_state_dict names missing, unexpected and mis-shaped tensors") {
  Generator gen(5);
  auto model = models::lenet(gen);
  auto state = model->state_dict();
  state.erase("conv1.bias");
  state["extra.weight"] = Tensor::zeros({1});
  state["fc1.weight"] = Tensor::zeros({500, 801});
  try {
    model->load_state_dict(state);
    FAIL("expected an error");
  } catch (const Error& e) {
    const std::string m = e.what();
    CHECK(m.find("missing 'conv1.bias'") != std::string::npos);
    CHECK(m.find("unexpected 'extra.weight'") != std::string::npos);
    CHECK(m.find("'fc1.weight' has shape [500, 801]") != std::string::npos);
    CHECK(m.find("[500, 800]") != std::string::npos);
  }
  state.erase("extra.weight");
  state["fc1.weight"] = Tensor::zeros({500, 800});
  CHECK_NOTHROW(model->load_state_dict(state, /*strict=*/false));
}

TEST_CASE("summary lists layers, output shapes and parameter counts") {
  Generator gen(6);
  auto model = models::lenet(gen);
  const std::string table = summary(*model, {1, 1, 28, 28});
  CHECK(table.find("Conv2d(1, 20, kernel_size=5)") != std::string::npos);
  CHECK(table.find("[1, 50, 4, 4]") != std::string::npos);
  CHECK(table.find("400,500") != std::string::npos);
  CHECK(table.find("Total parameters: 431,080") != std::string::npos);
  CHECK_THROWS_AS(summary(*model, {1, 3, 28, 28}), Error);  // wrong channels: a clear error
}

TEST_CASE("initializers are seeded and have the documented statistics") {
  Tensor w = Tensor::empty({256, 128, 3, 3});
  Generator g1(7), g2(7);
  init::kaiming_normal(w, init::FanMode::fan_in, g1);
  const double std_expected = std::sqrt(2.0 / (128 * 9));
  CHECK(std::sqrt(mean(pow(w, 2.0f)).item()) == doctest::Approx(std_expected).epsilon(0.02));
  Tensor w2 = Tensor::empty({256, 128, 3, 3});
  init::kaiming_normal(w2, init::FanMode::fan_in, g2);
  CHECK(w.to_vector<float>() == w2.to_vector<float>());
  init::kaiming_normal(w, init::FanMode::fan_out, g1);
  CHECK(std::sqrt(mean(pow(w, 2.0f)).item()) == doctest::Approx(std::sqrt(2.0 / (256 * 9))).epsilon(0.02));
  Tensor x = Tensor::empty({300, 200});
  init::xavier_uniform(x, 1.0f, g1);
  const double bound = std::sqrt(6.0 / 500);
  CHECK(max(x).item() <= bound);
  CHECK(std::sqrt(mean(pow(x, 2.0f)).item()) == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.02));
  init::xavier_normal(x, 1.0f, g1);
  CHECK(std::sqrt(mean(pow(x, 2.0f)).item()) == doctest::Approx(std::sqrt(2.0 / 500)).epsilon(0.02));
  init::normal(x, 1.0f, 0.5f, g1);
  CHECK(mean(x).item() == doctest::Approx(1.0).epsilon(0.01));
  init::constant(x, 0.25f);
  CHECK(max(x).item() == 0.25f);
  Tensor vec = Tensor::empty({5});
  CHECK_THROWS_AS(init::kaiming_normal(vec), Error);
}

TEST_CASE("cross entropy with label smoothing matches the definition") {
  Tensor logits = Tensor::from_vector({2.0f, 0.5f, -1.0f, 0.1f, 0.2f, 0.3f}, {2, 3});
  Tensor target = Tensor::from_vector(std::vector<int32_t>{0, 2}, {2});
  const float eps = 0.1f;
  const auto lp = log_softmax(logits, 1).to_vector<float>();
  double expected = 0;
  for (int i = 0; i < 2; ++i) {
    const int t = i == 0 ? 0 : 2;
    double smooth = 0;
    for (int c = 0; c < 3; ++c) smooth += -lp[static_cast<size_t>(i * 3 + c)] / 3;
    expected += (1 - eps) * -lp[static_cast<size_t>(i * 3 + t)] + eps * smooth;
  }
  CHECK(CrossEntropyLoss(eps)(logits, target).item() == doctest::Approx(expected / 2));
  CHECK(CrossEntropyLoss()(logits, target).item() == doctest::Approx(cross_entropy(logits, target).item()));
  CHECK(NLLLoss()(log_softmax(logits, 1), target).item() == doctest::Approx(cross_entropy(logits, target).item()));
  CHECK_THROWS_AS(CrossEntropyLoss(1.5f), Error);
}

namespace {

// One parameter p with a fixed gradient sequence; returns p after each step.
template <class MakeOptimizer>
std::vector<float> trajectory(MakeOptimizer make_optimizer, std::vector<float> grads, float p0 = 1.0f) {
  Tensor p = Tensor::full({1}, p0).set_requires_grad();
  auto opt = make_optimizer(NamedParameters{{"p", p}});
  std::vector<float> out;
  for (float g : grads) {
    p.impl()->grad = Tensor::full({1}, g);
    opt->step();
    out.push_back(p.item());
  }
  return out;
}

}  // namespace

TEST_CASE("SGD updates match hand-computed values") {
  // plain: p = 1 − 0.1·0.5 = 0.95, then 0.95 − 0.1·1 = 0.85
  auto plain = trajectory([](NamedParameters ps) { return std::make_unique<SGD>(ps, 0.1); }, {0.5f, 1.0f});
  CHECK(plain[0] == doctest::Approx(0.95));
  CHECK(plain[1] == doctest::Approx(0.85));
  // momentum 0.9: buf = 0.5 → p = 0.95; buf = 0.9·0.5 + 1 = 1.45 → p = 0.95 − 0.145 = 0.805
  auto momentum = trajectory([](NamedParameters ps) { return std::make_unique<SGD>(ps, 0.1, SgdOptions{0.9}); },
                             {0.5f, 1.0f});
  CHECK(momentum[1] == doctest::Approx(0.805));
  // dampening 0.5: second buf = 0.9·0.5 + 0.5·1 = 0.95 → p = 0.95 − 0.095 = 0.855
  auto damped = trajectory([](NamedParameters ps) { return std::make_unique<SGD>(ps, 0.1, SgdOptions{0.9, 0.5}); },
                           {0.5f, 1.0f});
  CHECK(damped[1] == doctest::Approx(0.855));
  // nesterov: step 1 d = 0.5 + 0.9·0.5 = 0.95 → p = 0.905
  auto nesterov = trajectory(
      [](NamedParameters ps) { return std::make_unique<SGD>(ps, 0.1, SgdOptions{0.9, 0, 0, true}); }, {0.5f});
  CHECK(nesterov[0] == doctest::Approx(0.905));
  // weight decay 0.1: d = 0.5 + 0.1·1 = 0.6 → p = 0.94
  auto decayed = trajectory([](NamedParameters ps) { return std::make_unique<SGD>(ps, 0.1, SgdOptions{0, 0, 0.1}); },
                            {0.5f});
  CHECK(decayed[0] == doctest::Approx(0.94));
}

TEST_CASE("Adam and AdamW updates match hand-computed values") {
  // Step 1 of Adam moves every weight by lr·sign(g) (bias correction makes m̂/√v̂ = ±1).
  auto adam = trajectory([](NamedParameters ps) { return std::make_unique<Adam>(ps, 0.01); }, {0.5f, -0.2f});
  CHECK(adam[0] == doctest::Approx(0.99));
  // Step 2 by hand: m = 0.1·(−0.2) + 0.9·0.05 = 0.025, v = 0.999·0.00025 + 0.001·0.04 = 0.00028975
  const double m = 0.025 / (1 - 0.81), v = 0.00028975 / (1 - 0.998001);
  CHECK(adam[1] == doctest::Approx(0.99 - 0.01 * m / (std::sqrt(v) + 1e-8)));
  // AdamW: p = 1 − lr·wd·1 first, then the Adam step.
  auto adamw = trajectory([](NamedParameters ps) { return std::make_unique<AdamW>(ps, 0.01, AdamOptions{.weight_decay = 0.1}); },
                          {0.5f});
  CHECK(adamw[0] == doctest::Approx(1 - 0.001 - 0.01));
  // Adam with L2 weight decay folds wd·p into the gradient; step 1 is still lr·sign.
  auto adam_l2 = trajectory([](NamedParameters ps) { return std::make_unique<Adam>(ps, 0.01, AdamOptions{.weight_decay = 0.1}); },
                            {0.5f});
  CHECK(adam_l2[0] == doctest::Approx(0.99));
}

TEST_CASE("optimizer state round-trips through state_dict") {
  Tensor p = Tensor::full({2}, 1.0).set_requires_grad();
  SGD a(NamedParameters{{"p", p}}, 0.1, SgdOptions{0.9});
  p.impl()->grad = Tensor::full({2}, 0.5);
  a.step();
  SGD b(NamedParameters{{"p", p}}, 0.1, SgdOptions{0.9});
  b.load_state_dict(a.state_dict());
  CHECK(b.steps() == 1);
  Tensor before = p.clone().detach();
  a.step();
  Tensor after_a = p.clone().detach();
  copy_into(p.detach(), before);
  b.step();
  CHECK(p.to_vector<float>() == after_a.to_vector<float>());
  auto bad = a.state_dict();
  bad["q.momentum_buffer"] = Tensor::zeros({2});
  CHECK_THROWS_AS(b.load_state_dict(bad), Error);
}

TEST_CASE("learning-rate schedules") {
  StepLr step(2, 0.5);
  CHECK(step.lr(1.0, 0, 0, 10) == 1.0);
  CHECK(step.lr(1.0, 2, 0, 10) == 0.5);
  CHECK(step.lr(1.0, 5, 0, 10) == 0.25);
  MultiStepLr multi({3, 5}, 0.1);
  CHECK(multi.lr(1.0, 2, 0, 10) == 1.0);
  CHECK(multi.lr(1.0, 3, 0, 10) == doctest::Approx(0.1));
  CHECK(multi.lr(1.0, 7, 0, 10) == doctest::Approx(0.01));
  CosineLr cosine(10, 1, 0.0);
  CHECK(cosine.lr(1.0, 0, 0, 100) == doctest::Approx(0.01));   // warm-up starts small
  CHECK(cosine.lr(1.0, 0, 99, 100) == doctest::Approx(1.0));   // and reaches the base rate
  CHECK(cosine.lr(1.0, 1, 0, 100) == doctest::Approx(1.0));
  CHECK(cosine.lr(1.0, 5, 50, 100) == doctest::Approx(0.5));   // half-way down the cosine
  CHECK(cosine.lr(1.0, 10, 0, 100) == doctest::Approx(0.0).epsilon(1e-9));
  CHECK_THROWS_AS(CosineLr(5, 5), Error);
}

TEST_CASE("batch norm statistics stay accurate far from zero, and the running variance is unbiased") {
  // 1000 + a small signal per channel: float sums of squares about zero would lose the
  // variance to cancellation; the kernels centre on the mean first.
  const int64_t n = 8, c = 3, h = 9, w = 11;
  Tensor x = Tensor::empty({n, c, h, w});
  Generator g(71);
  float* px = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) px[i] = 1000.0f + 0.1f * g.normal();
  Tensor running_mean = Tensor::zeros({c}), running_var = Tensor::ones({c});
  const Tensor y = batch_norm(x, Tensor(), Tensor(), running_mean, running_var, true, 1.0f, 1e-12f);
  const int64_t m = n * h * w;
  for (int64_t ch = 0; ch < c; ++ch) {
    CAPTURE(ch);
    double s = 0, ss = 0, xs = 0;
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < h * w; ++i) {
        const double v = y.data<float>()[(b * c + ch) * h * w + i];
        s += v;
        ss += v * v;
        xs += px[(b * c + ch) * h * w + i];
      }
    CHECK(std::abs(s / m) < 1e-3);  // the float mean itself is within half an ulp of 1000 (3e-5)
    CHECK(ss / m == doctest::Approx(1.0).epsilon(1e-4));
    CHECK(running_mean.data<float>()[ch] == doctest::Approx(xs / m).epsilon(1e-7));
    double centred = 0;
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < h * w; ++i) {
        const double d = px[(b * c + ch) * h * w + i] - xs / m;
        centred += d * d;
      }
    CHECK(running_var.data<float>()[ch] == doctest::Approx(centred / (m - 1)).epsilon(1e-4));
  }
}

TEST_CASE("Sequential runs a BatchNorm2d and the ReLU or ReLU6 after it as one op, with the same values and gradients") {
  for (bool six : {false, true})
    for (bool training : {true, false}) {
      CAPTURE(six);
      CAPTURE(training);
      Generator gen(81);
      // Runs of 5x7 = 35 values (whole vectors and a tail); values well past 6 for ReLU6.
      Tensor x = mul(Tensor::randn({3, 4, 5, 7}, gen), 4.0f);
      auto make = [&] {
        auto bn = std::make_shared<nn::BatchNorm2d>(4);
        for (int64_t c = 0; c < 4; ++c) {
          bn->weight.data<float>()[c] = 0.5f + 0.3f * static_cast<float>(c);
          bn->bias.data<float>()[c] = 0.2f * static_cast<float>(c) - 0.3f;
          bn->running_mean.data<float>()[c] = 0.1f * static_cast<float>(c);
        }
        return bn;
      };
      auto fused_bn = make(), plain_bn = make();
      nn::ModulePtr act = six ? nn::ModulePtr(std::make_shared<nn::ReLU6>()) : std::make_shared<nn::ReLU>();
      nn::Sequential fused{fused_bn, act};
      fused.train(training);
      plain_bn->train(training);

      Tensor x1 = x.clone().set_requires_grad(), x2 = x.clone().set_requires_grad();
      Tensor y1 = fused(x1);
      Tensor y2 = (*act)((*plain_bn)(x2));
      REQUIRE(y1.shape() == y2.shape());
      CHECK(y1.grad_fn()->op == (six ? "batch_norm_relu6" : "batch_norm_relu"));  // one op
      CHECK(y1.to_vector<float>() == y2.to_vector<float>());
      CHECK(fused_bn->running_mean.to_vector<float>() == plain_bn->running_mean.to_vector<float>());
      CHECK(fused_bn->running_var.to_vector<float>() == plain_bn->running_var.to_vector<float>());
      Tensor g = Tensor::randn(y1.shape(), gen);
      y1.backward(g);
      y2.backward(g);
      CHECK(x1.grad().to_vector<float>() == x2.grad().to_vector<float>());
      CHECK(fused_bn->weight.grad().to_vector<float>() == plain_bn->weight.grad().to_vector<float>());
      CHECK(fused_bn->bias.grad().to_vector<float>() == plain_bn->bias.grad().to_vector<float>());
    }
}
