// Executor-level debugging: the executor's per-op outputs (the same on every kernel table
// as on the reference), the layer and scale each converted op records, and the per-op
// report of the int8 executor against float next to the fake-quantized model's.
#include <doctest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/autograd.hpp"
#include "core/safetensors.hpp"
#include "int8/executor.hpp"
#include "int8/requantize.hpp"
#include "models/lenet.hpp"
#include "nn/layers.hpp"
#include "quant/convert.hpp"
#include "quant/int8_debug.hpp"
#include "quant/modules.hpp"
#include "quant/prepare.hpp"
#include "tests/expect_error.hpp"
#include "tests/int8_agreement.hpp"
#include "tests/int8_helpers.hpp"
#include "tests/temp_dir.hpp"

using namespace intrain;
using intrain::testing::expect_error;
using intrain::testing::first_images;
using intrain::testing::random_digits;
using intrain::testing::TempDir;

namespace {

// A float model, its W8A8 PTQ twin (calibrated on random digits), the program converted
// from the twin, and a test batch.
struct Quantized {
  nn::ModulePtr float_model, fake;
  int8::Program program;
  Tensor images;
};

Quantized quantize(const std::function<nn::ModulePtr(Generator&)>& build, uint64_t seed) {
  Generator g(seed);
  Quantized q;
  q.fake = build(g);
  // Batch norm with running statistics as training leaves them, not the initial 0 and 1.
  q.fake->train();
  for (int i = 0; i < 4; ++i) {
    NoGradGuard no_grad;
    (*q.fake)(Tensor::randn({16, 1, 28, 28}, g));
  }
  Generator again(seed);
  q.float_model = build(again);
  q.float_model->load_state_dict(q.fake->state_dict());
  q.float_model->eval();
  auto digits = random_digits(160, g);
  data::DataLoader loader(digits, {32, false, 0, false, 0, 1});
  quant::prepare_ptq(*q.fake, quant::preset("w8a8"));
  quant::calibrate(*q.fake, loader, 4);
  q.program = quant::convert(*q.fake, {1, 28, 28});
  q.images = first_images(digits, 64);
  return q;
}

nn::ModulePtr lenet5_bn(Generator& g) { return models::lenet5_bn(g); }

// Conv, a residual block whose sum takes the ReLU after it (absorbed into the quantized
// sum) and whose body ends in a batch norm without activation, pooling both ways.
nn::ModulePtr residual_net(Generator& g) {
  using nn::make;
  using Layers = std::initializer_list<nn::ModulePtr>;
  return std::make_shared<nn::Sequential>(Layers{
      make<nn::Conv2d>(1, 8, 3, nn::Conv2dOptions{.padding = 1}, g), make<nn::ReLU>(),
      make<nn::Residual>(make<nn::Sequential>(Layers{make<nn::Conv2d>(8, 8, 3, nn::Conv2dOptions{.padding = 1}, g),
                                                     make<nn::BatchNorm2d>(8)})),
      make<nn::ReLU>(), make<nn::AvgPool2d>(2), make<nn::Conv2d>(8, 12, 1, nn::Conv2dOptions{}, g), make<nn::ReLU6>(),
      make<nn::AdaptiveAvgPool2d>(), make<nn::Flatten>(), make<nn::Linear>(12, 10, true, g)});
}

double output_sqnr(const Tensor& reference, const Tensor& approximation) {
  const auto y = reference.to_vector<float>(), q = approximation.to_vector<float>();
  double signal = 0, noise = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    signal += double(y[i]) * y[i];
    noise += (double(y[i]) - q[i]) * (double(y[i]) - q[i]);
  }
  return 10 * std::log10(signal / noise);
}

std::vector<Tensor> op_outputs(const int8::Executor& exe, const Tensor& images, Tensor* logits = nullptr) {
  std::vector<Tensor> outputs(exe.program().ops.size());
  std::vector<size_t> order;
  Tensor out = exe.run_with_op_outputs(images, [&](size_t i, const Tensor& t) {
    order.push_back(i);
    outputs[i] = t;
  });
  CHECK(order.size() == outputs.size());
  for (size_t i = 0; i < order.size(); ++i) CHECK(order[i] == i);
  if (logits) *logits = out;
  return outputs;
}

}  // namespace

TEST_CASE("run_with_op_outputs: every kernel table hands out the reference's outputs, op by op") {
  const Quantized lenet = quantize(lenet5_bn, 3);
  Generator g(8);
  // A random program too: depthwise and strided convs, both poolings, save/add, flatten.
  const int8::Program random = intrain::testing::random_program({3, 9, 9}, {{8, 3, 2, 1, 1}, {8, 3, 1, 1, 8}}, 5);
  for (const auto& [program, images] : {std::pair{lenet.program, lenet.images},
                                        std::pair{random, Tensor::randn({5, 3, 9, 9}, g)}}) {
    const int8::Executor reference(program, {false});
    Tensor want_logits;
    const std::vector<Tensor> want = op_outputs(reference, images, &want_logits);
    CHECK(want_logits.to_vector<float>() == reference.run(images).to_vector<float>());
    for (size_t i = 0; i < want.size(); ++i) {
      Shape shape{images.size(0)};
      shape.insert(shape.end(), program.ops[i].out_shape.begin(), program.ops[i].out_shape.end());
      CHECK(want[i].shape() == shape);
      CHECK(want[i].dtype() == (i + 1 == want.size() ? DType::f32 : DType::u8));
    }
    for (const int8::KernelTable* table : intrain::testing::tables_to_test()) {
      CAPTURE(table->id);
      const int8::Executor fast(program, {true, table});
      Tensor logits;
      const std::vector<Tensor> got = op_outputs(fast, images, &logits);
      CHECK(logits.to_vector<float>() == fast.run(images).to_vector<float>());
      for (size_t i = 0; i + 1 < want.size(); ++i) {
        CAPTURE(i);
        CHECK(got[i].to_vector<uint8_t>() == want[i].to_vector<uint8_t>());
      }
      CHECK(got.back().to_vector<float>() == want.back().to_vector<float>());
    }
  }
}

TEST_CASE("convert records each op's layer and activation scale; program files keep them") {
  const Quantized lenet = quantize(lenet5_bn, 3);
  std::vector<std::string> layers;
  for (const int8::Op& op : lenet.program.ops) {
    layers.push_back(op.layer);
    CHECK((op.output_scale.defined() ? op.activation_scale == 0 : op.activation_scale > 0));
  }
  // A conv's output is its ReLU's (batch norm and ReLU fold in); dropouts leave no op.
  CHECK(layers == std::vector<std::string>{"relu1", "pool1", "relu2", "pool2", "relu3", "flatten", "relu4", "fc2"});
  // The ReLU's quantizer gives the scale the codes carry.
  quant::QuantAct* relu1 = nullptr;
  for (auto& [path, m] : lenet.fake->named_modules())
    if (path == "relu1") relu1 = dynamic_cast<quant::QuantAct*>(m);
  REQUIRE(relu1 != nullptr);
  CHECK(lenet.program.ops[0].activation_scale == relu1->quantizer().params().scale.item());

  TempDir dir;
  int8::save_program(dir / "lenet.int8", lenet.program);
  const int8::Program back = int8::load_program(dir / "lenet.int8");
  for (size_t i = 0; i < back.ops.size(); ++i) {
    CHECK(back.ops[i].layer == lenet.program.ops[i].layer);
    CHECK(back.ops[i].activation_scale == lenet.program.ops[i].activation_scale);
  }
  // Older files (format 4) have neither field and load; a format-4 file that claims them is refused.
  auto rewrite = [&](const std::string& to, bool keep_fields) {
    SafetensorsFile file = load_safetensors(dir / "lenet.int8");
    nlohmann::json graph = nlohmann::json::parse(file.metadata.at("intrain_int8_program"));
    graph["version"] = 4;
    if (!keep_fields)
      for (auto& op : graph["ops"]) {
        op.erase("layer");
        op.erase("activation_scale");
      }
    file.metadata["intrain_int8_program"] = graph.dump();
    save_safetensors(dir / to, file.tensors, file.metadata);
  };
  rewrite("v4.int8", false);
  const int8::Program old = int8::load_program(dir / "v4.int8");
  CHECK(old.ops[0].layer.empty());
  CHECK(old.ops[0].activation_scale == 0);
  CHECK(int8::Executor(old).run(lenet.images).to_vector<float>() ==
        int8::Executor(lenet.program).run(lenet.images).to_vector<float>());
  rewrite("v4-with-layers.int8", true);
  expect_error([&] { int8::load_program(dir / "v4-with-layers.int8"); }, "'layer' needs format version 5");
  // Programs without layers still run, but the report says it cannot compare them.
  const quant::Int8DebugReport unknown = quant::debug_int8(int8::Executor(old), *lenet.float_model, nullptr, lenet.images);
  CHECK_FALSE(unknown.ops[0].compared);
  CHECK(unknown.ops[0].note.find("convert it again") != std::string::npos);
}

TEST_CASE("debug_int8: per-op SQNR of the int8 executor against float, next to the fake-quantized model's") {
  for (auto [build, name] : {std::pair{&lenet5_bn, std::string("lenet5_bn")}, std::pair{&residual_net, std::string("residual")}}) {
    CAPTURE(name);
    const Quantized q = quantize(build, 5);
    const int8::Executor exe(q.program);
    const quant::Int8DebugReport report = quant::debug_int8(exe, *q.float_model, q.fake.get(), q.images);
    MESSAGE(name, ":\n", quant::format_int8_debug(report));
    REQUIRE(report.ops.size() == q.program.ops.size());
    CHECK(report.images == 64);
    for (const quant::Int8OpDebug& row : report.ops) {
      CAPTURE(row.index);
      CAPTURE(row.layer);
      const int8::Op& op = q.program.ops[static_cast<size_t>(row.index)];
      CHECK(row.kind == int8::op_kind_name(op.kind));
      const bool moves = op.kind == int8::OpKind::save || op.kind == int8::OpKind::swap;
      CHECK(row.compared == !moves);
      if (moves) continue;
      CHECK(row.layer == op.layer);
      CHECK(row.sqnr_db > 20);  // W8A8
      CHECK(row.fake_quant_sqnr_db > 20);
      CHECK(row.max_abs_error > 0);
      // Within the tolerance, or the report says why not.
      if (std::fabs(row.sqnr_db - row.fake_quant_sqnr_db) > quant::kSqnrTolerance) CHECK_FALSE(row.note.empty());
    }
    // The last op's row is the network output, computed directly.
    Tensor reference;
    {
      NoGradGuard no_grad;
      reference = (*q.float_model)(q.images);
    }
    const double direct = output_sqnr(reference, exe.run(q.images));
    CHECK(report.ops.back().sqnr_db == doctest::Approx(direct).epsilon(1e-9));
    CHECK(report.output_sqnr_db == doctest::Approx(direct).epsilon(1e-9));
    // The reference executor reports the same numbers.
    const quant::Int8DebugReport slow = quant::debug_int8(int8::Executor(q.program, {false}), *q.float_model, q.fake.get(), q.images);
    for (size_t i = 0; i < report.ops.size(); ++i)
      if (report.ops[i].compared) CHECK(slow.ops[i].sqnr_db == report.ops[i].sqnr_db);
    // The JSON the HTML report reads.
    const nlohmann::json json = nlohmann::json::parse(quant::int8_debug_json(report, {{"program", "p.int8"}}));
    CHECK(json.at("program") == "p.int8");
    CHECK(json.at("images") == 64);
    REQUIRE(json.at("ops").size() == report.ops.size());
    const nlohmann::json& first = json.at("ops").at(0);
    for (const char* key : {"index", "kind", "layer", "shape", "sqnr_db", "max_abs_error", "fake_quant_sqnr_db", "note"})
      CHECK(first.contains(key));
    CHECK(first.at("sqnr_db").get<double>() == report.ops[0].sqnr_db);
    CHECK(first.at("shape") == nlohmann::json(report.ops[0].shape));
  }
}

TEST_CASE("debug_int8: the residual sum is compared after the ReLU it absorbed") {
  const Quantized q = quantize(residual_net, 7);
  size_t add = 0;
  while (q.program.ops[add].kind != int8::OpKind::add) ++add;
  CHECK(q.program.ops[add].layer == "2");  // the block, whose quantized output is after the ReLU at "3"
  CHECK(q.program.ops[add - 1].layer == "2.body.1");  // the body's batch norm, quantized on its own
  const quant::Int8DebugReport report = quant::debug_int8(int8::Executor(q.program), *q.float_model, q.fake.get(), q.images);
  CHECK(report.ops[add].sqnr_db > 20);
  CHECK(report.ops[add].sqnr_db == doctest::Approx(report.ops[add].fake_quant_sqnr_db).epsilon(0.05));
}

TEST_CASE("debug_int8: a model that is not the program's is refused by name") {
  const Quantized q = quantize(lenet5_bn, 3);
  Generator g(1);
  auto other = models::lenet(g);  // conv1, relu1, ... but no relu4
  expect_error([&] { quant::debug_int8(int8::Executor(q.program), *other, nullptr, q.images); }, "op 0");
}

TEST_CASE("debug_int8: where the executor departs from the fake-quantized model, the notes say where it starts") {
  Quantized q = quantize(lenet5_bn, 3);
  // The first conv's requantization multipliers 10% low, as a converter bug would leave them.
  int8::Op& conv1 = q.program.ops[0];
  std::vector<int32_t> multiplier = conv1.multiplier.to_vector<int32_t>(), shift = conv1.shift.to_vector<int32_t>();
  for (size_t c = 0; c < multiplier.size(); ++c) {
    const double real = std::ldexp(static_cast<double>(multiplier[c]), -31 - shift[c]);  // M0 · 2^-31 · 2^-shift
    const int8::FixedPointMultiplier low = int8::quantize_multiplier(0.9 * real);
    multiplier[c] = low.multiplier;
    shift[c] = low.shift;
  }
  conv1.multiplier = Tensor::from_vector(multiplier, conv1.multiplier.shape());
  conv1.shift = Tensor::from_vector(shift, conv1.shift.shape());
  const quant::Int8DebugReport report = quant::debug_int8(int8::Executor(q.program), *q.float_model, q.fake.get(), q.images);
  const quant::Int8OpDebug& first = report.ops[0];
  CHECK(first.fake_quant_sqnr_db - first.sqnr_db > 3);
  CHECK(first.code_mismatch > 0.1);
  CHECK(first.note.find("from identical input codes") != std::string::npos);
  CHECK(report.ops[2].note.find("inherited") != std::string::npos);  // the second conv reads wrong codes
  // The logits inherit it too; they have no codes to count, and the note says no "nan%".
  const quant::Int8OpDebug& logits = report.ops.back();
  CHECK(logits.note.find("inherited") != std::string::npos);
  CHECK(logits.note.find("nan") == std::string::npos);
}
