// Quantizers as registered objects (quant/quantizer.hpp), the structure matcher shared by
// fusing, prepare and convert (nn/structure.hpp), and the PTQ / QAT recipes in the library
// (quant/ptq.hpp, quant/qat.hpp).
#include <doctest.h>

#include <cmath>

#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "models/lenet.hpp"
#include "nn/fuse.hpp"
#include "nn/layers.hpp"
#include "nn/structure.hpp"
#include "quant/convert.hpp"
#include "quant/fake_quant.hpp"
#include "quant/modules.hpp"
#include "quant/prepare.hpp"
#include "quant/ptq.hpp"
#include "quant/qat.hpp"
#include "quant/quantizer.hpp"
#include "tests/int8_agreement.hpp"

using namespace intrain;

namespace {

// A test algorithm on fixed grids: weights per tensor on steps of 1/64, activations on
// [0, 4] (unsigned, after a ReLU) or [−4, 4) (signed, the input) on 8-bit codes. What
// convert emits must be these grids: it asks the quantizer instead of knowing it.
constexpr float kWeightStep = 1.0f / 64;
constexpr float kActivationRange = 4.0f;

class FixedWeights : public quant::WeightQuantizerImpl {
 public:
  explicit FixedWeights(const quant::WeightSpec& spec) : scheme_(quant::QuantScheme::weight_per_tensor(spec.bits)) {}
  std::string name() const override { return "test_fixed"; }
  quant::QuantScheme scheme() const override { return scheme_; }
  quant::QuantParams grid() const { return {Tensor::full({1}, kWeightStep), Tensor::zeros({1}, DType::i32)}; }
  Tensor forward(const Tensor& w) const override { return quant::fake_quantize(w, grid(), scheme_); }
  quant::IntegerWeights export_codes(const Tensor& w, const std::string&) const override {
    return quant::codes_on_grid(w, grid(), scheme_);
  }

 private:
  quant::QuantScheme scheme_;
};

class FixedActivations : public quant::ActivationQuantizerImpl {
 public:
  explicit FixedActivations(const quant::ActivationSpec& spec)
      : scheme_(quant::minmax_activation_scheme(spec.bits, spec.non_negative)), non_negative_(spec.non_negative) {}
  std::string name() const override { return "test_fixed"; }
  quant::QuantScheme scheme() const override { return scheme_; }
  void initialize(const Tensor&, quant::RangeState& range) override {
    range.set(non_negative_ ? 0.0f : -kActivationRange, kActivationRange);
  }
  Tensor forward(const Tensor& x, bool, quant::RangeState& range) override {
    return quant::fake_quantize(x, params(range), scheme_);
  }
  quant::QuantParams params(const quant::RangeState& range) const override {
    return quant::choose_qparams(range.min, range.max, scheme_);
  }

 private:
  quant::QuantScheme scheme_;
  bool non_negative_;
};

void register_test_algorithm() {
  if (quant::quantizer_registry().contains("test_fixed")) return;
  quant::register_quantizer("test_fixed", {[](const quant::WeightSpec& s) { return std::make_unique<FixedWeights>(s); },
                                           [](const quant::ActivationSpec& s) { return std::make_unique<FixedActivations>(s); },
                                           "fixed grids (tests only)"});
}

nn::Children children_of(const nn::Sequential& s) { return s.children(); }

}  // namespace

TEST_CASE("the registry names the built-in algorithms and refuses unknown ones, listing them") {
  const auto names = quant::quantizer_registry().names();
  for (const char* n : {"minmax", "pact", "lsq", "sat", "calibrated"})
    CHECK(std::find(names.begin(), names.end(), n) != names.end());
  try {
    quant::parse_algorithm("dorefa2");
    FAIL("an unknown algorithm was accepted");
  } catch (const Error& e) {
    const std::string what = e.what();
    CHECK(what.find("dorefa2") != std::string::npos);
    CHECK(what.find("lsq, minmax, pact, sat") != std::string::npos);
  }
  quant::QuantConfig config;
  config.algorithm = quant::Algorithm("nope");
  CHECK_THROWS_AS(config.validate(), Error);
  CHECK_THROWS_AS(quant::register_quantizer("minmax", {}), Error);  // taken
  CHECK(std::string(quant::algorithm_name(quant::Algorithm::lsq)) == "lsq");
}

TEST_CASE("a registered algorithm goes through prepare, training and convert with nothing else changed") {
  register_test_algorithm();
  Generator g(3);
  auto model = models::lenet(g);
  quant::QuantConfig config;
  config.algorithm = quant::parse_algorithm("test_fixed");
  REQUIRE(quant::QuantConfig::from_json(config.to_json()).algorithm == config.algorithm);
  quant::prepare_qat(*model, config);
  auto data = testing::random_digits(32, g);
  const Tensor images = testing::first_images(data, 32);
  model->train();
  (*model)(images);  // the first batch sets the (fixed) ranges
  const int8::Program program = quant::convert(*model, {1, 28, 28});
  // The weights are the quantizer's grid: codes round(w·64), scale 1/64 per channel.
  quant::QuantConv2d* conv1 = nullptr;
  for (auto& [name, m] : model->named_modules())
    if (name == "conv1") conv1 = dynamic_cast<quant::QuantConv2d*>(m);
  REQUIRE(conv1 != nullptr);
  const Tensor w = conv1->weight.contiguous();
  const Tensor codes = program.ops.front().weight.to(DType::i32);
  for (int64_t e = 0; e < w.numel(); e += 7)
    CHECK(codes.data<int32_t>()[e] == static_cast<int32_t>(std::clamp(std::nearbyint(w.data<float>()[e] * 64), -127.0f, 127.0f)));
  // The input's range [−4, 4] on 8 bits.
  CHECK(program.input_scale == doctest::Approx(8.0 / 255));
  CHECK(testing::int8_agreement(*model, program, images) >= 30);
}

TEST_CASE("checkpoint names are each algorithm's own and stay as they were") {
  for (const char* algo : {"minmax", "pact", "lsq", "sat"}) {
    CAPTURE(algo);
    Generator g(1);
    auto model = models::lenet5_bn(g);
    quant::QuantConfig config;
    config.algorithm = quant::parse_algorithm(algo);
    quant::prepare_qat(*model, config);
    const auto state = model->state_dict();
    CHECK(state.count("conv1.input_quant.min") == 1);  // the network input's quantizer, on the first layer
    bool alpha = false, step = false, weight_step = false, range = false;
    for (const auto& [name, t] : state) {
      alpha |= name.size() > 6 && name.ends_with(".alpha");
      step |= name.ends_with(".quant.step");
      weight_step |= name.ends_with(".weight_step");
      range |= name.ends_with(".quant.min") && state.count(name.substr(0, name.size() - 3) + "max") == 1 &&
               state.count(name.substr(0, name.size() - 3) + "initialized") == 1;
    }
    CHECK(range);
    CHECK(alpha == (std::string(algo) == "pact" || std::string(algo) == "sat"));
    CHECK(step == (std::string(algo) == "lsq"));
    CHECK(weight_step == (std::string(algo) == "lsq"));
  }
}

TEST_CASE("the structure matcher finds conv/linear + batch norm + activation and residual + activation groups") {
  auto residual = std::make_shared<nn::Residual>(std::make_shared<nn::Identity>());
  nn::Sequential s{std::make_shared<nn::Conv2d>(3, 4, 3),  // 0: conv, bn, dropout, relu6
                   std::make_shared<nn::BatchNorm2d>(4),
                   std::make_shared<nn::Dropout>(0.1f),
                   std::make_shared<nn::ReLU6>(),
                   std::make_shared<nn::Conv2d>(4, 4, 1),  // 4: conv alone (a pool follows)
                   std::make_shared<nn::MaxPool2d>(2),
                   residual,                                // 6: residual + relu
                   std::make_shared<nn::ReLU>(),
                   std::make_shared<nn::Flatten>(),
                   std::make_shared<nn::Linear>(4, 2),     // 9: linear + relu
                   std::make_shared<nn::ReLU>(),
                   std::make_shared<nn::Linear>(2, 2)};    // 11: linear, last
  const nn::Children c = children_of(s);
  auto g = nn::match_group(c, 0);
  REQUIRE(g);
  CHECK(g->kind == nn::LayerRole::conv);
  CHECK(g->batch_norm == 1);
  CHECK(g->activation == 3);
  CHECK(g->relu6);
  CHECK(g->last == 3);
  g = nn::match_group(c, 4);
  REQUIRE(g);
  CHECK_FALSE(g->has_batch_norm());
  CHECK_FALSE(g->has_activation());
  CHECK(g->last == 4);
  CHECK_FALSE(nn::match_group(c, 5));  // a pool starts no group
  g = nn::match_group(c, 6);
  REQUIRE(g);
  CHECK(g->kind == nn::LayerRole::residual);
  CHECK(g->activation == 7);
  CHECK_FALSE(g->relu6);
  g = nn::match_group(c, 9);
  REQUIRE(g);
  CHECK(g->kind == nn::LayerRole::linear);
  CHECK(g->activation == 10);
  g = nn::match_group(c, 11);
  REQUIRE(g);
  CHECK(g->last == 11);
}

TEST_CASE("fusing uses the matcher: conv + BN + dropout + ReLU6 fuses the activation past the dropout") {
  Generator g(5);
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(2, 3, 3, nn::Conv2dOptions{}, g), std::make_shared<nn::BatchNorm2d>(3),
      std::make_shared<nn::Dropout>(0.5f), std::make_shared<nn::ReLU6>()});
  auto& bn = dynamic_cast<nn::BatchNorm2d&>((*model)[1]);
  bn.running_mean.data<float>()[1] = 0.5f;
  bn.running_var.data<float>()[2] = 3.0f;
  model->eval();
  const Tensor x = mul(Tensor::randn({2, 2, 6, 6}, g), 4.0f);
  NoGradGuard no_grad;
  const Tensor before = (*model)(x);
  CHECK(nn::fuse_for_inference(*model) == 1);
  CHECK(dynamic_cast<nn::FusedConv2d*>(&(*model)[0]));
  CHECK(dynamic_cast<nn::Identity*>(&(*model)[3]));  // the ReLU6 is in the fused kernel
  const Tensor after = (*model)(x);
  CHECK(max(abs(sub(before, after))).item() < 1e-4f);
}

TEST_CASE("quantize_post_training over a batch source is prepare_ptq + calibrate, and bias correction runs") {
  Generator g(7);
  auto data = testing::random_digits(96, g);
  const Tensor images = testing::first_images(data, 96);
  Generator g1(11), g2(11), g3(11), g4(11);
  auto by_hand = models::lenet(g1);
  auto by_recipe = models::lenet(g2);
  auto float_model = models::lenet(g3);
  quant::prepare_ptq(*by_hand, quant::preset("w4a8"));
  quant::TensorBatches hand_batches(images, 32);
  quant::calibrate(*by_hand, hand_batches, 3);
  quant::TensorBatches batches(images, 32);
  quant::PtqOptions options;
  options.calibration_batches = 3;
  const quant::PtqResult r = quant::quantize_post_training(*by_recipe, *float_model, quant::preset("w4a8"), batches, options);
  CHECK(r.config.algorithm == quant::Algorithm::minmax);
  CHECK_FALSE(r.bias_corrected.has_value());
  const auto a = by_hand->state_dict(), b = by_recipe->state_dict();
  REQUIRE(a.size() == b.size());
  for (const auto& [name, t] : a) {
    CAPTURE(name);
    if (t.dtype() != DType::f32) continue;
    CHECK(max(abs(sub(t, b.at(name)))).item() == 0.0f);
  }
  // With bias correction the recipe changes the biases, and the quantized model still runs.
  auto corrected = models::lenet(g4);
  options.bias_correction = true;
  const quant::PtqResult rc = quant::quantize_post_training(*corrected, *float_model, quant::preset("w4a8"), batches, options);
  REQUIRE(rc.bias_corrected.has_value());
  CHECK(*rc.bias_corrected > 0);
  CHECK(max(abs(sub(corrected->state_dict().at("fc1.bias"), a.at("fc1.bias")))).item() > 0.0f);
}

TEST_CASE("QAT recipe options: PACT's α gets its own decay, batch norm freezes at its epoch") {
  Generator g(2);
  auto model = models::lenet5_bn(g);
  quant::QuantConfig config;
  config.algorithm = quant::Algorithm::pact;
  quant::prepare_qat(*model, config);
  const quant::QatRecipe recipe{.pact_decay = 0.25, .freeze_bn_epoch = 2};
  const nn::SgdOptions sgd = quant::qat_sgd_options(*model, {0.9, 0.0, 1e-4, false}, recipe);
  int64_t alphas = 0;
  for (const auto& [name, p] : model->named_parameters())
    if (name.ends_with(".alpha")) {
      ++alphas;
      CHECK(sgd.weight_decay_by_name.at(name) == 0.25);
    }
  CHECK(alphas > 0);
  CHECK(sgd.weight_decay_by_name.size() == static_cast<size_t>(alphas));
  auto frozen = [&] {
    for (auto& [name, m] : model->named_modules()) {
      if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m); bn && !bn->frozen_stats) return false;
      if (auto* qbn = dynamic_cast<quant::QuantBatchNorm*>(m); qbn && !qbn->bn().frozen_stats) return false;
    }
    return true;
  };
  quant::qat_epoch_start(*model, recipe, 1);
  CHECK_FALSE(frozen());
  quant::qat_epoch_start(*model, recipe, 2);
  CHECK(frozen());
}
