// The model builders: parameter counts against the published ones, shapes on small inputs,
// and MobileNetV2's depthwise convolutions and skip additions through the int8 program.
#include <doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/autograd.hpp"
#include "data/mnist.hpp"
#include "int8/executor.hpp"
#include "models/lenet.hpp"
#include "models/mobilenet.hpp"
#include "models/registry.hpp"
#include "models/resnet.hpp"
#include "nn/fuse.hpp"
#include "nn/optimizer.hpp"
#include "quant/convert.hpp"
#include "quant/prepare.hpp"
#include "tests/expect_error.hpp"
#include "tests/int8_agreement.hpp"

using namespace intrain;
using namespace intrain::models;

TEST_CASE("parameter counts match the reference implementations") {
  Generator g(1);
  CHECK(mobilenet_v1({}, g)->parameter_count() == 4231976);
  CHECK(mobilenet_v1({.width = 0.75f}, g)->parameter_count() == 2585560);
  CHECK(mobilenet_v2({}, g)->parameter_count() == 3504872);
  CHECK(resnet18({}, g)->parameter_count() == 11689512);
  CHECK(make_divisible(32 * 0.75) == 24);
  CHECK(make_divisible(16 * 0.35) == 8);
  CHECK_THROWS_AS(mobilenet_v1({.width = 0.0f}, g), Error);
  CHECK_THROWS_AS(make_model("mobilenet_v3"), Error);
}

namespace {

// torchvision's state_dict entries, "name dtype d0xd1x..." per line (tests/fixtures/*.keys).
std::map<std::string, std::string> torchvision_keys(const std::string& model) {
  const char* dir = std::getenv("INTRAIN_FIXTURES");
  REQUIRE_MESSAGE(dir != nullptr, "INTRAIN_FIXTURES is not set (meson test sets it)");
  std::ifstream in(std::string(dir) + "/" + model + ".keys");
  REQUIRE(in.good());
  std::map<std::string, std::string> keys;
  std::string name, dtype, shape;
  while (in >> name >> dtype >> shape) keys[name] = dtype + " " + shape;
  return keys;
}

std::map<std::string, std::string> our_keys(const nn::Module& model) {
  std::map<std::string, std::string> keys;
  for (const auto& [name, t] : model.state_dict()) {
    std::string shape;
    for (int64_t d : t.shape()) shape += (shape.empty() ? "" : "x") + std::to_string(d);
    // PyTorch keeps num_batches_tracked as int64; we keep it as int32 and read either.
    const std::string dtype = t.dtype() == DType::f32 ? "float32" : t.dtype() == DType::i32 ? "int64" : "other";
    keys[name] = dtype + " " + (shape.empty() ? "scalar" : shape);
  }
  return keys;
}

}  // namespace

TEST_CASE("models are named as torchvision names them: every state_dict entry, name and shape") {
  Generator g(1);
  CHECK(our_keys(*mobilenet_v2({}, g)) == torchvision_keys("mobilenet_v2"));
  CHECK(our_keys(*resnet18({}, g)) == torchvision_keys("resnet18"));
  // LeNet as the classic PyTorch example names it.
  const auto lenet_keys = our_keys(*lenet(g));
  CHECK(lenet_keys.at("conv1.weight") == "float32 20x1x5x5");
  CHECK(lenet_keys.at("conv2.bias") == "float32 50");
  CHECK(lenet_keys.at("fc1.weight") == "float32 500x800");
  CHECK(lenet_keys.at("fc2.weight") == "float32 10x500");
  CHECK(lenet_keys.size() == 8);
}

TEST_CASE("small-input variants run forward and backward on 28x28 images") {
  Generator g(2);
  CHECK(model_spec("mobilenet_v1", 0.75f, 10, 1, 28) == "mobilenet_v1:width=0.75,classes=10,in_channels=1,small_input=1");
  CHECK(model_spec("resnet18", 1.0f, 200, 3, 224) == "resnet18:classes=200,in_channels=3,small_input=0");
  CHECK(model_spec("lenet", 1.0f, 10, 1, 28) == "lenet");
  CHECK_THROWS_AS(make_model("lenet:width=2"), Error);
  CHECK_THROWS_AS(make_model("mobilenet_v1:width=abc"), Error);
  CHECK_THROWS_AS(make_model("mobilenet_v1:depth=3"), Error);
  for (const std::string name : {"mobilenet_v1:width=0.75,classes=10,in_channels=1,small_input=1",
                                 "mobilenet_v2:width=0.5,classes=10,in_channels=1,small_input=1",
                                 "resnet18:classes=10,in_channels=1,small_input=1"}) {
    CAPTURE(name);
    nn::ModulePtr model = make_model(name, g);
    Tensor x = Tensor::randn({2, 1, 28, 28}, g);
    Tensor target = Tensor::from_vector(std::vector<int32_t>{3, 7}, {2});
    Tensor logits = (*model)(x);
    CHECK(logits.shape() == Shape{2, 10});
    cross_entropy(logits, target).backward();
    for (auto& [pname, p] : model->named_parameters()) {
      CAPTURE(pname);
      REQUIRE(p.grad().defined());
    }
  }
}

TEST_CASE("MobileNetV2: depthwise convolutions and skip additions through PTQ and the int8 program") {
  Generator g(3);
  auto model = mobilenet_v2({.width = 0.25f, .classes = 10, .in_channels = 1, .small_input = true}, g);
  {
    NoGradGuard no_grad;  // non-trivial batch-norm statistics, as training leaves them
    model->train();
    for (int i = 0; i < 3; ++i) (*model)(Tensor::randn({8, 1, 28, 28}, g));
  }
  auto dataset = intrain::testing::random_digits(48, g);
  data::DataLoader loader(dataset, {16, false, 0, false, 0, 1});
  int residuals = 0;
  for (auto& [name, m] : model->named_modules()) residuals += dynamic_cast<nn::Residual*>(m) != nullptr;
  quant::prepare_ptq(*model, quant::preset("w8a8"));
  quant::calibrate(*model, loader, 3);
  const int8::Program program = quant::convert(*model, {1, 28, 28}, "mobilenet_v2");
  int depthwise = 0, adds = 0;
  for (const int8::Op& op : program.ops) {
    depthwise += op.kind == int8::OpKind::conv2d && op.groups > 1;
    adds += op.kind == int8::OpKind::add;
  }
  CHECK(depthwise == 17);
  CHECK(adds == residuals);
  CHECK(residuals >= 10);
  CHECK(intrain::testing::int8_agreement(*model, program, intrain::testing::first_images(dataset, 48)) >= 40);
}

TEST_CASE("MobileNetV1 and V2 trained with PACT and LSQ convert into int8 programs that agree") {
  // QAT, not PTQ: learned clipping levels (PACT's α), learned step sizes (LSQ), ReLU6 and
  // ReLU, folded batch norm, depthwise convolutions and residual additions, a few SGD
  // steps so the learned parameters move, then conversion and agreement.
  const std::vector<std::string> algorithms{"pact", "lsq"};
  for (const std::string& algo : algorithms)
    for (const bool v2 : {false, true}) {
      CAPTURE(algo);
      CAPTURE(v2);
      Generator g(11);
      const MobileNetOptions options{.width = 0.25f, .classes = 10, .in_channels = 1, .small_input = true, .relu6 = algo == "lsq"};
      nn::ModulePtr model = v2 ? nn::ModulePtr(mobilenet_v2(options, g)) : nn::ModulePtr(mobilenet_v1(options, g));
      quant::QuantConfig config = quant::preset("w8a8");
      config.algorithm = quant::parse_algorithm(algo);
      quant::prepare_qat(*model, config);
      auto dataset = intrain::testing::random_digits(48, g);
      const Tensor images = intrain::testing::first_images(dataset, 48);
      std::vector<int32_t> labels(48);
      for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int32_t>(i % 10);
      const Tensor targets = Tensor::from_vector(labels, {48});
      nn::SGD optimizer(model->named_parameters(), 0.01, nn::SgdOptions{.momentum = 0.9});
      std::map<std::string, std::vector<float>> before;  // copies: the optimizer updates in place
      for (const auto& [name, value] : model->state_dict())
        if (value.dtype() == DType::f32) before[name] = value.to_vector<float>();
      model->train();
      for (int step = 0; step < 4; ++step) {
        optimizer.zero_grad();
        cross_entropy((*model)(images), targets).backward();
        optimizer.step();
      }
      int64_t learned_moved = 0;  // PACT's α / LSQ's steps are trained, not fixed
      for (const auto& [name, value] : model->state_dict())
        if (name.find(algo == "pact" ? "alpha" : "step") != std::string::npos)
          learned_moved += value.to_vector<float>() != before.at(name);
      CHECK(learned_moved > 5);
      const int8::Program program = quant::convert(*model, {1, 28, 28}, v2 ? "mobilenet_v2" : "mobilenet_v1");
      int depthwise = 0;
      for (const int8::Op& op : program.ops) depthwise += op.kind == int8::OpKind::conv2d && op.groups > 1;
      CHECK(depthwise == (v2 ? 17 : 13));
      CHECK(intrain::testing::int8_agreement(*model, program, images) >= 44);
    }
}

TEST_CASE("fuse_for_inference folds batch norm and activations into convolutions, same outputs") {
  Generator g(13);
  struct Case {
    nn::ModulePtr model;
    int64_t channels, convs;
  };
  std::vector<Case> cases;
  cases.push_back({mobilenet_v1({.width = 0.25f, .classes = 10, .in_channels = 3, .small_input = true, .relu6 = true}, g), 3, 27});
  cases.push_back({mobilenet_v2({.width = 0.25f, .classes = 10, .in_channels = 3, .small_input = true}, g), 3, 52});
  cases.push_back({resnet18({.classes = 10}, g), 3, 20});
  for (auto& [model, channels, convs] : cases) {
    NoGradGuard no_grad;
    model->train();  // batch-norm statistics that are not the identity
    for (int i = 0; i < 2; ++i) (*model)(Tensor::randn({8, channels, 32, 32}, g));
    model->eval();
    const Tensor x = Tensor::randn({4, channels, 32, 32}, g);
    const auto want = (*model)(x).to_vector<float>();
    CHECK(nn::fuse_for_inference(*model) == convs);
    const auto got = (*model)(x).to_vector<float>();
    float scale = 0;
    for (float v : want) scale = std::max(scale, std::abs(v));
    for (size_t i = 0; i < want.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-3).scale(scale));
  }
  // With gradients needed, a conv's activation option runs as separate differentiable ops.
  Tensor x = Tensor::randn({2, 3, 8, 8}, g).set_requires_grad();
  Tensor w = Tensor::randn({4, 3, 3, 3}, g).set_requires_grad();
  Conv2dOptions relu6_options = Conv2dOptions::square(1, 1);
  relu6_options.activation = kernels::ConvActivation::relu6;
  const Tensor fused = conv2d(x, w, Tensor(), relu6_options), plain = relu6(conv2d(x, w, Tensor(), Conv2dOptions::square(1, 1)));
  CHECK(fused.to_vector<float>() == plain.to_vector<float>());
  sum(fused).backward();
  CHECK(w.grad().defined());
  {
    NoGradGuard no_grad;  // and inside the kernel without
    CHECK(conv2d(x, w, Tensor(), relu6_options).to_vector<float>() == plain.to_vector<float>());
  }
}

TEST_CASE("ResNet-18: projection shortcuts and post-addition ReLUs through PTQ and the int8 program") {
  Generator g(4);
  auto model = resnet18({.classes = 10, .in_channels = 1, .small_input = true}, g);
  {
    NoGradGuard no_grad;
    model->train();
    for (int i = 0; i < 2; ++i) (*model)(Tensor::randn({4, 1, 28, 28}, g));
  }
  auto dataset = intrain::testing::random_digits(16, g);
  data::DataLoader loader(dataset, {8, false, 0, false, 0, 1});
  quant::prepare_ptq(*model, quant::preset("w8a8"));
  quant::calibrate(*model, loader, 2);
  const int8::Program program = quant::convert(*model, {1, 28, 28}, "resnet18");
  int swaps = 0, adds = 0;
  for (const int8::Op& op : program.ops) {
    swaps += op.kind == int8::OpKind::swap;
    adds += op.kind == int8::OpKind::add;
  }
  CHECK(adds == 8);
  CHECK(swaps == 3);  // the three blocks that change width and resolution
  CHECK(intrain::testing::int8_agreement(*model, program, intrain::testing::first_images(dataset, 16)) >= 13);
}
