// Quantization: schemes and their arithmetic, STE and the papers' gradients, observers on
// known distributions, configs and model transforms.
#include <doctest.h>

#include <cmath>

#include "core/autograd.hpp"
#include "data/mnist.hpp"
#include "models/lenet.hpp"
#include "quant/config.hpp"
#include "quant/fake_quant.hpp"
#include "quant/modules.hpp"
#include "quant/observer.hpp"
#include "quant/prepare.hpp"
#include "quant/report.hpp"
#include "nn/summary.hpp"
#include "tests/gradcheck.hpp"

using namespace intrain;
using namespace intrain::quant;

TEST_CASE("integer ranges of the schemes") {
  CHECK(QuantScheme::weight_per_channel(8).qmin() == -127);  // narrow range
  CHECK(QuantScheme::weight_per_channel(8).qmax() == 127);
  CHECK(QuantScheme::weight_per_tensor(4).qmin() == -7);
  CHECK(QuantScheme::activation_affine(8).qmin() == 0);
  CHECK(QuantScheme::activation_affine(8).qmax() == 255);
  CHECK(QuantScheme::activation_unsigned(2).qmax() == 3);
  QuantScheme wide{8, true, true, -1, false, false};
  CHECK(wide.qmin() == -128);
}

TEST_CASE("quantize/dequantize round trip: error <= scale/2 inside, saturation outside") {
  Generator g(1);
  Tensor x = Tensor::rand({1000}, g, -3.0f, 5.0f);
  for (QuantScheme scheme : {QuantScheme::activation_affine(8), QuantScheme::weight_per_tensor(8),
                             QuantScheme::activation_affine(4), QuantScheme::weight_per_tensor(3)}) {
    CAPTURE(scheme.to_string());
    QuantParams p = choose_qparams(Tensor::full({1}, -3.0), Tensor::full({1}, 5.0), scheme);
    const float s = p.scale.item();
    const auto back = dequantize(quantize(x, p, scheme), p, scheme).to_vector<float>();
    const auto orig = x.to_vector<float>();
    const float lo = s * static_cast<float>(scheme.qmin() - p.zero_point.item<int32_t>());
    const float hi = s * static_cast<float>(scheme.qmax() - p.zero_point.item<int32_t>());
    for (size_t i = 0; i < orig.size(); ++i) {
      if (orig[i] >= lo && orig[i] <= hi) CHECK(std::abs(back[i] - orig[i]) <= s / 2 * (1 + 1e-5f));
      else CHECK(back[i] == doctest::Approx(orig[i] < lo ? lo : hi));
    }
  }
  // Zero is exactly representable, affine or symmetric.
  QuantScheme affine = QuantScheme::activation_affine(8);
  QuantParams p = choose_qparams(Tensor::full({1}, -0.37), Tensor::full({1}, 2.9), affine);
  CHECK(dequantize(quantize(Tensor::zeros({1}), p, affine), p, affine).item() == 0.0f);
  // Far outside: saturates at qmin / qmax.
  CHECK(quantize(Tensor::full({1}, 1e6), p, affine).item<int32_t>() == 255);
  CHECK(quantize(Tensor::full({1}, -1e6), p, affine).item<int32_t>() == 0);
}

TEST_CASE("rounding is half to even, as docs/quantization.md specifies") {
  QuantScheme s = QuantScheme::weight_per_tensor(8);
  QuantParams p{Tensor::full({1}, 1.0), Tensor::zeros({1}, DType::i32)};
  CHECK(quantize(Tensor::from_vector({0.5f, 1.5f, 2.5f, -0.5f, -1.5f}, {5}), p, s).to_vector<int32_t>() ==
        std::vector<int32_t>{0, 2, 2, 0, -2});
}

TEST_CASE("per-channel scales are computed per axis; power-of-two scales are powers of two") {
  Tensor w = Tensor::from_vector({1, -2, 0.5f, 0.25f, 4, -8, 3, 1}, {4, 2});
  PerChannelMinMaxObserver obs(0);
  obs.observe(w);
  QuantScheme scheme = QuantScheme::weight_per_channel(8, 0);
  QuantParams p = obs.params(scheme);
  CHECK(p.scale.to_vector<float>() == std::vector<float>{2.0f / 127, 0.5f / 127, 8.0f / 127, 3.0f / 127});
  PerChannelMinMaxObserver by_column(1);
  by_column.observe(w);
  CHECK(by_column.params(QuantScheme::weight_per_channel(8, 1)).scale.numel() == 2);
  QuantScheme pow2 = QuantScheme::weight_per_channel(8, 0);
  pow2.power_of_two = true;
  for (float s : obs.params(pow2).scale.to_vector<float>()) {
    CHECK(std::exp2(std::round(std::log2(s))) == s);
    CHECK(s >= 0.5f / 127);
  }
  CHECK_THROWS_AS(quantize(w, p, QuantScheme::weight_per_channel(8, 2)), Error);
}

TEST_CASE("fake_quantize: STE passes the gradient inside the range and blocks it outside") {
  QuantScheme s = QuantScheme::activation_affine(8);
  QuantParams p = choose_qparams(Tensor::zeros({1}), Tensor::full({1}, 2.55), s);  // scale 0.01, range [0, 2.55]
  Tensor x = Tensor::from_vector({-1.0f, 0.004f, 1.234f, 2.55f, 3.0f}, {5}).set_requires_grad();
  Tensor y = fake_quantize(x, p, s);
  CHECK(y.to_vector<float>()[2] == doctest::Approx(1.23));
  sum(y).backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{0, 1, 1, 1, 0});
}

TEST_CASE("PACT's gradients follow Choi et al.: dx = 1 on [0, alpha), dalpha = 1 above") {
  Tensor x = Tensor::from_vector({-0.5f, 0.3f, 0.9f, 1.5f, 2.0f}, {5}).set_requires_grad();
  Tensor alpha = Tensor::full({1}, 1.0).set_requires_grad();
  Tensor y = pact(x, alpha, 2);  // levels 0, 1/3, 2/3, 1
  CHECK(y.to_vector<float>()[1] == doctest::Approx(1.0 / 3));
  CHECK(y.to_vector<float>()[4] == doctest::Approx(1.0));
  Tensor g = Tensor::from_vector({1, 2, 3, 4, 5}, {5});
  sum(mul(y, g)).backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{0, 2, 3, 0, 0});
  CHECK(alpha.grad().item() == doctest::Approx(4 + 5));
}

TEST_CASE("LSQ's step gradient follows Esser et al.") {
  QuantScheme s{3, true, true, -1, false, false};  // qmin −4, qmax 3
  Tensor x = Tensor::from_vector({-5.0f, -0.74f, 0.26f, 1.1f, 2.0f}, {5}).set_requires_grad();
  Tensor step = Tensor::full({1}, 0.5).set_requires_grad();
  Tensor y = lsq_quantize(x, step, s, 0.25f);
  // v = x/s = −10, −1.48, 0.52, 2.2, 4 → clamp/round: −4, −1, 1, 2, 3
  CHECK(y.to_vector<float>() == std::vector<float>{-2.0f, -0.5f, 0.5f, 1.0f, 1.5f});
  sum(y).backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{0, 1, 1, 1, 0});
  // ∂/∂s: qmin, round(v)−v, round(v)−v, round(v)−v, qmax; summed, times the gradient scale
  const double expected = (-4) + (-1 + 1.48) + (1 - 0.52) + (2 - 2.2) + 3;
  CHECK(step.grad().item() == doctest::Approx(0.25 * expected).epsilon(1e-4));
  // Per channel: one step per row, each with its own gradient.
  Tensor w = Tensor::from_vector({0.1f, 0.2f, -0.3f, 0.4f}, {2, 2}).set_requires_grad();
  Tensor steps = Tensor::from_vector({0.1f, 0.2f}, {2}).set_requires_grad();
  sum(lsq_quantize(w, steps, QuantScheme::weight_per_channel(4, 0), 1.0f)).backward();
  CHECK(steps.grad().numel() == 2);
}

TEST_CASE("DoReFa/SAT weights: range, levels, and finite-difference gradients where smooth") {
  Generator g(3);
  Tensor w = Tensor::randn({4, 3, 3, 3}, g, 0.0f, 0.1f);
  const auto q = dorefa_weight(w, 2).to_vector<float>();
  for (float v : q) {
    const float level = (v + 1) * 1.5f;  // 2 bits: {−1, −1/3, 1/3, 1}
    CHECK(std::abs(level - std::round(level)) < 1e-5f);
  }
  intrain::testing::check_gradients([](auto& in) { return dorefa_weight(in[0], 4, /*quantize=*/false); },
                                    {Tensor::randn({3, 4}, g, 0.0f, 0.5f)}, {1e-3f, 2e-2, 2e-3});
  intrain::testing::check_gradients([](auto& in) { return sat_scale_adjust(in[0]); }, {Tensor::randn({3, 4}, g)},
                                    {1e-3f, 2e-2, 2e-3});
  // Scale adjustment: n·Var(w*) = 1.
  Tensor adjusted = sat_scale_adjust(dorefa_weight(w, 4));
  Tensor centered = sub(adjusted, mean(adjusted));
  CHECK(mean(mul(centered, centered)).item() * 4 == doctest::Approx(1.0).epsilon(1e-3));
}

TEST_CASE("observers pick the expected ranges on known distributions") {
  Generator g(5);
  Tensor uniform = Tensor::rand({20000}, g, -1.0f, 3.0f);
  MinMaxObserver mm;
  mm.observe(uniform);
  CHECK(mm.range().first.item() == doctest::Approx(-1.0).epsilon(1e-3));
  CHECK(mm.range().second.item() == doctest::Approx(3.0).epsilon(1e-3));
  MovingAverageMinMaxObserver ma(0.5f);
  ma.observe(Tensor::from_vector({0.0f, 2.0f}, {2}));
  ma.observe(Tensor::from_vector({0.0f, 4.0f}, {2}));
  CHECK(ma.range().second.item() == doctest::Approx(3.0));

  // A gaussian with a few huge outliers: the histogram methods clip them.
  Tensor gauss = Tensor::randn({50000}, g);
  float* p = gauss.data<float>();
  for (int i = 0; i < 5; ++i) p[i] = 60.0f;
  const QuantScheme scheme = QuantScheme::weight_per_tensor(8);
  HistogramObserver percentile(HistogramMethod::percentile, scheme, 99.9);
  // At 4 bits rounding noise outweighs clipping five outliers; at 8 bits MSE rightly keeps them.
  HistogramObserver mse(HistogramMethod::mse, QuantScheme::weight_per_tensor(4));
  HistogramObserver kl(HistogramMethod::kl, scheme);
  for (Observer* o : std::vector<Observer*>{&percentile, &mse, &kl}) o->observe(gauss);
  const float p_hi = percentile.range().second.item();
  CHECK(p_hi == doctest::Approx(3.29).epsilon(0.1));  // the 99.9th percentile of N(0, 1)
  CHECK(mse.range().second.item() < 15.0f);
  CHECK(kl.range().second.item() < 30.0f);
  CHECK(kl.range().second.item() > 2.0f);
  CHECK(make_observer("kl", scheme) != nullptr);
  CHECK_THROWS_AS(make_observer("median", scheme), Error);
  MinMaxObserver empty;
  CHECK_THROWS_AS(empty.params(scheme), Error);
}

TEST_CASE("bad quantization configs give clear errors") {
  QuantConfig c;
  c.weight_bits = 0;
  CHECK_THROWS_AS(c.validate(), Error);
  c.weight_bits = 9;
  CHECK_THROWS_AS(c.validate(), Error);
  c.weight_bits = 4;
  c.activation_bits = 9;
  CHECK_THROWS_AS(c.validate(), Error);
  CHECK_THROWS_AS(QuantScheme({9}).validate("test"), Error);
  CHECK_THROWS_AS(preset("w3a3"), Error);
  CHECK_THROWS_AS(parse_algorithm("dorefa2"), Error);
  Generator g(1);
  auto model = models::lenet(g);
  QuantConfig bad_pattern;
  bad_pattern.overrides.push_back({"features.*", 8, 0});
  try {
    prepare_qat(*model, bad_pattern);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("'features.*' matches no layer") != std::string::npos);
  }
}

TEST_CASE("configs round-trip through JSON; glob patterns") {
  QuantConfig c = preset("w4a4");
  c.algorithm = Algorithm::lsq;
  c.overrides.push_back({"0", 8, 0});
  QuantConfig back = QuantConfig::from_json(c.to_json());
  CHECK(back.to_json() == c.to_json());
  CHECK_THROWS_AS(QuantConfig::from_json("{}"), Error);
  CHECK(glob_match("features.*.conv", "features.3.conv"));
  CHECK(glob_match("*", "anything"));
  CHECK(!glob_match("0", "10"));
  CHECK(glob_match("1*", "16"));
}

TEST_CASE("prepare_qat swaps in quantized twins, keeps names, and trains every algorithm") {
  for (Algorithm algorithm : {Algorithm::minmax, Algorithm::pact, Algorithm::lsq, Algorithm::sat}) {
    CAPTURE(algorithm_name(algorithm));
    Generator g(7);
    auto model = models::lenet5_bn(g);
    QuantConfig config = preset("w4a4");
    config.algorithm = algorithm;
    config.overrides.push_back({"conv1", 8, 0});
    config.overrides.push_back({"fc2", 8, 0});
    auto layers = prepare_qat(*model, config);
    CHECK(dynamic_cast<QuantConv2d*>(&(*model)[0]) != nullptr);
    CHECK(dynamic_cast<QuantLinear*>(&(*model)[16]) != nullptr);
    CHECK(dynamic_cast<QuantAct*>(&(*model)[2]) != nullptr);
    CHECK(model->state_dict().count("conv1.weight") == 1);
    CHECK(model->state_dict().count("bn1.running_mean") == 1);
    CHECK(layers.front().name == "input");
    int eight_bit = 0;
    for (auto& l : layers) eight_bit += (l.kind != "activation" && l.kind != "input" && l.bits == 8);
    CHECK(eight_bit == 2);
    if (algorithm == Algorithm::pact) CHECK(model->state_dict().count("relu1.quant.alpha") == 1);
    if (algorithm == Algorithm::lsq) CHECK(model->state_dict().count("conv2.weight_step") == 1);
    Tensor x = Tensor::randn({8, 1, 28, 28}, g);
    Tensor target = Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7}, {8});
    model->train();
    cross_entropy((*model)(x), target).backward();
    for (auto& [name, p] : model->named_parameters()) {
      CAPTURE(name);
      CHECK(p.grad().defined());
    }
    model->eval();
    NoGradGuard no_grad;
    CHECK(std::isfinite(sum((*model)(x)).item()));
  }
}

TEST_CASE("PTQ: calibrate, freeze, and the fake-quantized model tracks the float one") {
  Generator g(9);
  auto float_model = models::lenet5_bn(g);
  auto model = models::lenet5_bn(g);
  model->load_state_dict(float_model->state_dict());
  std::vector<uint8_t> pixels(96 * 784), labels(96);
  for (auto& v : pixels) v = static_cast<uint8_t>(g.next_u64());
  auto dataset = std::make_shared<data::MnistDataset>(pixels, labels, 28, 28);
  data::DataLoader loader(dataset, {32, false, 0, false, 0, 1});
  QuantConfig config = preset("w8a8");
  config.observer = "mse";
  auto layers = prepare_ptq(*model, config);
  calibrate(*model, loader, 3);
  // Bias correction removes the mean shift that weight quantization leaves on each layer's
  // output: afterwards the quantized last layer's mean output equals that of its float
  // weights with the original bias, on the inputs it sees.
  Tensor batch = Tensor::randn({16, 1, 28, 28}, g);
  auto* last = dynamic_cast<QuantLinear*>(&(*model)[16]);
  REQUIRE(last != nullptr);
  const Tensor original_bias = last->bias.detach().clone();
  auto mean_shift = [&] {
    NoGradGuard no_grad;
    const Tensor x = nn::capture_inputs(*model, batch).at("fc2");
    const Tensor out = nn::capture_outputs(*model, batch).at("fc2");
    return std::abs(mean(sub(linear(x, last->weight.detach(), original_bias), out)).item());
  };
  const float before = mean_shift();
  CHECK(correct_bias(*model, batch) >= 5);
  const float after = mean_shift();
  MESSAGE("mean output shift of the last layer: ", before, " before bias correction, ", after, " after");
  CHECK(after < 0.5f * before + 1e-4f);
  QuantReport report = quant_report(*float_model, *model, layers, loader.dataset().get(0, g).image.unsqueeze(0));
  CHECK(report.output_sqnr_db > 25.0);
  for (const LayerReport& l : report.layers) CHECK(l.sqnr_db > 15.0);
  CHECK(report.size.quantized_bytes * 3 < report.size.float_bytes);
  CHECK(format_report(report).find("network output SQNR") != std::string::npos);
}
