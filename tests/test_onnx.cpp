// ONNX import and export: PyTorch's exports (fixtures made by scripts/make_onnx_fixtures.py)
// import to the same logits, intrain's exports pass the ONNX checker and import back to the
// same outputs, int8 programs export, and bad files are errors naming what is wrong.
#include <doctest.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include "core/autograd.hpp"
#include "core/file_reader.hpp"
#include "core/safetensors.hpp"
#include "expect_error.hpp"
#include "int8_helpers.hpp"
#include "int8/executor.hpp"
#include "interop/onnx_export.hpp"
#include "interop/onnx_graph.hpp"
#include "interop/onnx_import.hpp"
#include "interop/onnx_io.hpp"
#include "models/lenet.hpp"
#include "models/mobilenet.hpp"
#include "models/registry.hpp"
#include "models/resnet.hpp"
#include "nn/layers.hpp"
#include "onnx_int8_reference.hpp"
#include "quant/config.hpp"
#include "quant/convert.hpp"
#include "quant/prepare.hpp"
#include "temp_dir.hpp"

using namespace intrain;
using intrain::testing::expect_error;

namespace {

std::string fixture(const std::string& name) {
  const char* dir = std::getenv("INTRAIN_FIXTURES");
  REQUIRE_MESSAGE(dir != nullptr, "INTRAIN_FIXTURES is not set (meson test sets it)");
  return std::string(dir) + "/onnx/" + name;
}

float max_abs_difference(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const auto x = a.to_vector<float>(), y = b.to_vector<float>();
  float worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  return worst;
}

Tensor forward(nn::Module& m, const Tensor& x) {
  NoGradGuard no_grad;
  m.eval();
  return m(x);
}

// Random images of one shape, to calibrate on.
class RandomImages : public data::Dataset {
 public:
  RandomImages(Shape shape, int64_t n) : shape_(std::move(shape)), n_(n) {}
  int64_t size() const override { return n_; }
  data::Example get(int64_t index, Generator&) const override {
    Generator g(static_cast<uint64_t>(index) + 1);
    return {Tensor::randn(shape_, g), 0};
  }
  int64_t num_classes() const override { return 10; }
  Shape example_shape() const override { return shape_; }

 private:
  Shape shape_;
  int64_t n_;
};

// Non-trivial batch-norm statistics, as training leaves them.
void randomize_batch_norms(nn::Module& model, Generator& g) {
  NoGradGuard no_grad;
  for (auto& [name, m] : model.named_modules())
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) {
      const int64_t c = bn->running_mean.size(0);
      auto set = [](Tensor& t, const Tensor& v) { std::copy_n(v.data<float>(), v.numel(), t.data<float>()); };
      set(bn->running_mean, Tensor::rand({c}, g, -0.2f, 0.2f));
      set(bn->running_var, Tensor::rand({c}, g, 0.5f, 1.5f));
      set(bn->weight, Tensor::rand({c}, g, 0.5f, 1.5f));
      set(bn->bias, Tensor::rand({c}, g, -0.2f, 0.2f));
    }
}

// Writes a one-node ONNX model: input [N, 3, 8, 8] → op → output, with a 3x3 conv weight
// initializer for Conv.
void write_single_node_model(const std::string& path, const std::string& op, int64_t dilation = 1) {
  onnx::GraphProto g;
  g.set_name("single");
  auto add_value = [](auto* values, const std::string& name) {
    auto* v = values->Add();
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : {2, 3, 8, 8}) t->mutable_shape()->add_dim()->set_dim_value(d);
  };
  add_value(g.mutable_input(), "x");
  onnx::NodeProto* n = g.add_node();
  n->set_op_type(op);
  n->set_name("the_" + op + "_node");
  n->add_input("x");
  n->add_output("y");
  if (op == "Conv") {
    *g.add_initializer() = interop::tensor_to_onnx(Tensor::ones({3, 3, 3, 3}), "w");
    n->add_input("w");
    auto* a = n->add_attribute();
    a->set_name("dilations");
    a->set_type(onnx::AttributeProto::INTS);
    a->add_ints(dilation);
    a->add_ints(dilation);
    auto* p = n->add_attribute();
    p->set_name("pads");
    p->set_type(onnx::AttributeProto::INTS);
    for (int64_t v : {dilation, dilation, dilation, dilation}) p->add_ints(v);
  }
  add_value(g.mutable_output(), "y");
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(13);
  *m.mutable_graph() = g;
  std::string bytes;
  m.SerializeToString(&bytes);
  std::ofstream(path, std::ios::binary) << bytes;
}

// Imports fixture NAME.onnx and checks its logits on the inputs of NAME_io.safetensors
// against the logits PyTorch computed there.
interop::OnnxImport import_matching_pytorch(const std::string& name, const char* label) {
  interop::OnnxImport imported = interop::import_onnx(fixture(name + ".onnx"));
  const SafetensorsFile io = load_safetensors(fixture(name + "_io.safetensors"));
  const float diff = max_abs_difference(forward(*imported.model, io.tensors.at("input")), io.tensors.at("logits"));
  MESSAGE(label, ": max |logit difference| against PyTorch: ", diff);
  CHECK(diff < 1e-4f);
  return imported;
}

}  // namespace

TEST_CASE("PyTorch's LeNet imports as intrain's LeNet and gives PyTorch's logits") {
  const interop::OnnxImport imported = import_matching_pytorch("lenet", "LeNet");
  CHECK(imported.input_shape == Shape{1, 28, 28});
  // The same names and shapes as models/lenet.cpp: its checkpoints load into the import.
  const auto ours = models::lenet()->state_dict(), theirs = imported.model->state_dict();
  REQUIRE(ours.size() == theirs.size());
  for (const auto& [name, t] : ours) {
    REQUIRE_MESSAGE(theirs.count(name), name);
    CHECK(theirs.at(name).shape() == t.shape());
  }
}

TEST_CASE("PyTorch's MobileNetV2-0.35 (batch norm folded by the exporter) imports with PyTorch's logits") {
  const interop::OnnxImport imported = import_matching_pytorch("mobilenet_v2_035", "MobileNetV2-0.35");
  int residuals = 0, depthwise = 0;
  for (auto& [name, m] : imported.model->named_modules()) {
    residuals += dynamic_cast<nn::Residual*>(m) != nullptr;
    if (auto* c = dynamic_cast<nn::Conv2d*>(m)) depthwise += c->options().groups > 1;
  }
  CHECK(residuals == 10);
  CHECK(depthwise == 17);
  // Names follow torchvision's module paths (from the node names PyTorch writes).
  const auto state = imported.model->state_dict();
  CHECK(state.count("features.0.0.weight"));
  CHECK(state.count("features.2.conv.0.0.weight"));
  CHECK(state.count("classifier.1.weight"));

  SUBCASE("and goes through PTQ into an int8 program") {
    auto data = std::make_shared<RandomImages>(Shape{3, 32, 32}, 32);
    data::DataLoader loader(data, {16, false, 0, false, 0, 1});
    quant::prepare_ptq(*imported.model, quant::preset("w8a8"));
    quant::calibrate(*imported.model, loader, 2);
    const int8::Program program = quant::convert(*imported.model, {3, 32, 32}, "onnx");
    const Tensor input = load_safetensors(fixture("mobilenet_v2_035_io.safetensors")).tensors.at("input");
    const Tensor logits = int8::Executor(program).run(input);
    CHECK(logits.shape() == Shape{4, 10});
    CHECK_NOTHROW(interop::export_onnx_int8(program));
  }
}

TEST_CASE("make_model(\"onnx:PATH\") builds the imported model once the source is registered") {
  interop::register_onnx_model_source();
  nn::ModulePtr m = models::make_model("onnx:" + fixture("lenet.onnx"));
  const SafetensorsFile io = load_safetensors(fixture("lenet_io.safetensors"));
  CHECK(max_abs_difference(forward(*m, io.tensors.at("input")), io.tensors.at("logits")) < 1e-4f);
  expect_error([] { models::make_model("onnx:/nonexistent/model.onnx"); }, "/nonexistent/model.onnx");
}

TEST_CASE("exports of LeNet, MobileNetV2 and ResNet-18 pass the checker and import back to the same outputs") {
  Generator g(7);
  struct Case {
    const char* name;
    nn::ModulePtr model;
    Shape input;
  };
  const Case cases[] = {
      {"lenet", models::lenet(g), {1, 28, 28}},
      {"mobilenet_v2", models::mobilenet_v2({.width = 0.35f, .classes = 10, .in_channels = 3, .small_input = true}, g),
       {3, 16, 16}},
      {"resnet18", models::resnet18({.classes = 10, .in_channels = 3, .small_input = true}, g), {3, 16, 16}},
  };
  for (const Case& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    randomize_batch_norms(*c.model, g);
    const onnx::ModelProto proto = interop::export_onnx(*c.model, c.input);
    CHECK_NOTHROW(interop::check_onnx_model(proto, c.name));
    std::string bytes;
    proto.SerializeToString(&bytes);
    const interop::OnnxImport back = interop::import_onnx_bytes(bytes, c.name);
    Shape batch = {2};
    batch.insert(batch.end(), c.input.begin(), c.input.end());
    const Tensor x = Tensor::randn(batch, g);
    const float diff = max_abs_difference(forward(*back.model, x), forward(*c.model, x));
    MESSAGE(name, ": export → import, max |output difference|: ", diff);
    CHECK(diff < 1e-5f);
    // Initializers carry the state_dict names, so the round trip keeps them.
    const auto original = c.model->state_dict(), again = back.model->state_dict();
    for (const auto& [name, t] : original)
      if (name.find("num_batches_tracked") == std::string::npos) CHECK_MESSAGE(again.count(name), name);
  }
}

TEST_CASE("an int8 LeNet program exports as QLinearConv and QuantizeLinear and passes the checker") {
  Generator g(5);
  auto model = models::lenet(g);
  auto data = std::make_shared<RandomImages>(Shape{1, 28, 28}, 32);
  data::DataLoader loader(data, {16, false, 0, false, 0, 1});
  quant::prepare_ptq(*model, quant::preset("w8a8"));
  quant::calibrate(*model, loader, 2);
  const int8::Program program = quant::convert(*model, {1, 28, 28}, "lenet");
  const onnx::ModelProto proto = interop::export_onnx_int8(program);
  CHECK_NOTHROW(interop::check_onnx_model(proto, "lenet.int8"));
  std::map<std::string, int> ops;
  for (const auto& n : proto.graph().node()) ++ops[n.op_type()];
  CHECK(ops["QuantizeLinear"] == 1);
  CHECK(ops["QLinearConv"] == 3);  // conv1, conv2 and fc1 (as a 1x1 convolution)
  CHECK(ops["MatMulInteger"] == 1);  // fc2, the float logits
  intrain::testing::TempDir dir;
  CHECK_NOTHROW(interop::export_onnx_int8(program, dir / "lenet_int8.onnx"));
  CHECK(is_regular_file(dir / "lenet_int8.onnx"));

  // Run as ONNX defines the ops (float requantization): within one code of the executor's
  // fixed-point requantization on every QLinearConv output, and the same predictions.
  const Tensor images = Tensor::randn({8, 1, 28, 28}, g);
  intrain::testing::OnnxInt8Reference onnx_run(proto, program);
  const intrain::testing::OnnxValue logits = onnx_run.run(images);
  const Tensor ours = int8::Executor(program).run(images);
  const auto& s = onnx_run.stats();
  MESSAGE("LeNet int8 as ONNX: ", s.differing, " of ", s.codes, " requantized codes differ (at most by ", s.max_difference,
          "); max |logit difference| ", max_abs_difference(ours, Tensor::from_vector(std::vector<float>(logits.v.begin(), logits.v.end()), logits.shape)));
  CHECK(s.max_difference <= 1);
  CHECK(s.codes == 8 * (20 * 24 * 24 + 50 * 8 * 8 + 500));
  const auto a = argmax(ours, 1).to_vector<int32_t>();
  const Tensor theirs = Tensor::from_vector(std::vector<float>(logits.v.begin(), logits.v.end()), logits.shape);
  CHECK(a == argmax(theirs, 1).to_vector<int32_t>());
}

TEST_CASE("int8 programs with depthwise convolutions, average pooling and residual sums export and agree") {
  using intrain::testing::ConvSpec;
  for (uint64_t seed : {1, 2, 3}) {
    const int8::Program program = intrain::testing::random_program(
        {8, 12, 12}, {{16, 3, 1, 1, 1}, {16, 3, 2, 1, 16}, {24, 1, 1, 0, 1}}, seed);
    const onnx::ModelProto proto = interop::export_onnx_int8(program);
    CHECK_NOTHROW(interop::check_onnx_model(proto, "random program"));
    Generator g(seed);
    const Tensor images = Tensor::randn({4, 8, 12, 12}, g);
    intrain::testing::OnnxInt8Reference onnx_run(proto, program);
    const intrain::testing::OnnxValue logits = onnx_run.run(images);
    const Tensor theirs = Tensor::from_vector(std::vector<float>(logits.v.begin(), logits.v.end()), logits.shape);
    const float diff = max_abs_difference(int8::Executor(program).run(images), theirs);
    MESSAGE("random program ", seed, ": ", onnx_run.stats().differing, " of ", onnx_run.stats().codes,
            " conv codes differ; max |logit difference| ", diff);
    CHECK(onnx_run.stats().max_difference <= 1);
  }
}

TEST_CASE("unsupported operators, attributes and graphs are errors naming the operator, node and file") {
  intrain::testing::TempDir dir;
  write_single_node_model(dir / "sigmoid.onnx", "Sigmoid");
  expect_error([&] { interop::import_onnx(dir / "sigmoid.onnx"); }, "node 'the_Sigmoid_node' (Sigmoid)");
  expect_error([&] { interop::import_onnx(dir / "sigmoid.onnx"); }, dir / "sigmoid.onnx");
  write_single_node_model(dir / "dilated.onnx", "Conv", 2);
  expect_error([&] { interop::import_onnx(dir / "dilated.onnx"); }, "dilation 2 is not supported");
  // A fork into three branches is no residual block.
  {
    onnx::GraphProto g;
    g.set_name("three_way");
    interop::graph::add_value(g.mutable_input(), "x", onnx::TensorProto::FLOAT, {3, 8, 8});
    for (const char* b : {"a", "b", "c"}) interop::graph::add_node(g, "Relu", {"x"}, b, std::string("relu_") + b);
    interop::graph::add_node(g, "Add", {"a", "b"}, "s", "add_ab");
    interop::graph::add_node(g, "Add", {"s", "c"}, "y", "add_abc");
    interop::graph::add_value(g.mutable_output(), "y", onnx::TensorProto::FLOAT, {3, 8, 8});
    std::string bytes;
    interop::graph::make_model(g, "test").SerializeToString(&bytes);
    expect_error([&] { interop::import_onnx_bytes(bytes, "three_way.onnx"); }, "feeds 3 nodes");
  }
  // A float export of a model holding a quantized layer is refused, naming the layer.
  auto model = models::lenet();
  quant::prepare_ptq(*model, quant::preset("w8a8"));
  expect_error([&] { interop::export_onnx(*model, {1, 28, 28}); }, "layer 'conv1'");
}

TEST_CASE("truncated, garbage and non-regular files are errors naming the file") {
  intrain::testing::TempDir dir;
  const std::string bytes = read_regular_file(fixture("lenet.onnx"), "fixture");
  std::ofstream(dir / "truncated.onnx", std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  expect_error([&] { interop::import_onnx(dir / "truncated.onnx"); }, dir / "truncated.onnx");
  std::string garbage(4096, '\0');
  Generator g(1);
  for (char& c : garbage) c = static_cast<char>(g.next_u64());
  std::ofstream(dir / "garbage.onnx", std::ios::binary) << garbage;
  expect_error([&] { interop::import_onnx(dir / "garbage.onnx"); }, dir / "garbage.onnx");
  std::ofstream(dir / "empty.onnx", std::ios::binary).flush();
  expect_error([&] { interop::import_onnx(dir / "empty.onnx"); }, "is not an ONNX model");
  REQUIRE(::mkfifo((dir / "fifo.onnx").c_str(), 0600) == 0);
  expect_error([&] { interop::import_onnx(dir / "fifo.onnx"); }, "a FIFO");
  expect_error([&] { interop::import_onnx(dir.str()); }, "a directory");
}
