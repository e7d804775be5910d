// Per-layer sensitivity and bit allocation under a size budget: the layer built to be
// sensitive measures so and keeps more bits, the allocation is optimal (against brute force)
// and deterministic, the real int8 program file fits the budget, and an impossible budget
// names the smallest size there is.
#include <doctest.h>

#include <cmath>
#include <filesystem>
#include <functional>

#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "data/loader.hpp"
#include "int8/program.hpp"
#include "nn/layers.hpp"
#include "quant/bit_allocation.hpp"
#include "quant/convert.hpp"
#include "quant/prepare.hpp"
#include "quant/sensitivity.hpp"
#include "tests/expect_error.hpp"
#include "tests/temp_dir.hpp"

using namespace intrain;

namespace {

// conv_a → conv_b → conv_c (8 → 8 channels, 3×3, 576 weights each) → pool → linear.
// conv_a's channel 0 is dead (zero weights, negative bias, then ReLU), and conv_b reads it
// with a weight of 4 in every filter: it changes nothing in float but sets each channel's
// quantization range, so at 4 and 2 bits conv_b's real weights (σ = 0.25) round to about
// zero: by far the most sensitive layer, as a layer with range outliers is.
std::shared_ptr<nn::Sequential> three_convs(Generator& g) {
  auto conv = [&g] { return std::make_shared<nn::Conv2d>(8, 8, 3, nn::Conv2dOptions{.stride = 1, .padding = 1}, g); };
  auto net = std::make_shared<nn::Sequential>(std::initializer_list<std::pair<std::string, nn::ModulePtr>>{
      {"conv_a", conv()}, {"relu_a", std::make_shared<nn::ReLU>()},
      {"conv_b", conv()}, {"relu_b", std::make_shared<nn::ReLU>()},
      {"conv_c", conv()}, {"relu_c", std::make_shared<nn::ReLU>()},
      {"pool", std::make_shared<nn::AdaptiveAvgPool2d>()}, {"flatten", std::make_shared<nn::Flatten>()},
      {"fc", std::make_shared<nn::Linear>(8, 10, true, g)}});
  auto& conv_a = dynamic_cast<nn::Conv2d&>((*net)[0]);
  for (int64_t k = 0; k < 8 * 9; ++k) conv_a.weight.data<float>()[k] = 0;
  conv_a.bias.data<float>()[0] = -1;
  Tensor& w = dynamic_cast<nn::Conv2d&>((*net)[2]).weight;
  float* p = w.data<float>();
  for (int64_t o = 0; o < 8; ++o)
    for (int64_t k = 0; k < 8 * 9; ++k) p[o * 72 + k] = k == 4 ? 4.0f : 0.25f * g.normal();
  net->eval();
  return net;
}

// Random images labelled by the float model itself (so float accuracy is 100%).
class LabelledNoise : public data::Dataset {
 public:
  LabelledNoise(nn::Module& model, int64_t n, uint64_t seed) {
    Generator g(seed);
    images_ = Tensor::randn({n, 8, 6, 6}, g);
    NoGradGuard no_grad;
    labels_ = argmax(model(images_), 1).to_vector<int32_t>();
  }
  int64_t size() const override { return images_.size(0); }
  data::Example get(int64_t i, Generator&) const override {
    return {images_.narrow(0, i, 1).reshape({8, 6, 6}).contiguous(), labels_[static_cast<size_t>(i)]};
  }
  int64_t num_classes() const override { return 10; }
  Shape example_shape() const override { return {8, 6, 6}; }

 private:
  Tensor images_;
  std::vector<int32_t> labels_;
};

struct Fixture {
  Generator g{11};
  std::shared_ptr<nn::Sequential> net = three_convs(g);
  std::shared_ptr<LabelledNoise> calib_set = std::make_shared<LabelledNoise>(*net, 128, 1);
  std::shared_ptr<LabelledNoise> eval_set = std::make_shared<LabelledNoise>(*net, 256, 2);
  data::DataLoader calib{calib_set, {32, true, 5, false, 0, 1}};
  data::DataLoader eval{eval_set, {64, false, 0, false, 0, 1}};

  quant::SensitivityResult sensitivity() {
    quant::SensitivityOptions options;
    options.calibration_batches = 2;
    options.config.observer = "minmax";
    return quant::layer_sensitivity(*net, calib, quant::take_batches(eval, 256), options);
  }

  // The real file `intrain convert` would write for `config`, calibrated as ptq does.
  int64_t program_bytes(const quant::QuantConfig& config, const testing::TempDir& dir) {
    Generator g2(11);
    auto copy = three_convs(g2);
    quant::prepare_ptq(*copy, config);
    quant::calibrate(*copy, calib, 2);
    const std::string path = dir / "p.int8";
    int8::save_program(path, quant::convert(*copy, {8, 6, 6}));
    return static_cast<int64_t>(std::filesystem::file_size(path));
  }
};

int bits_of(const quant::BitAllocation& a, const std::string& name) {
  for (const quant::LayerBits& l : a.layers)
    if (l.name == name) return l.weight_bits;
  FAIL("no layer ", name);
  return 0;
}

}  // namespace

TEST_CASE("sensitivity: one layer at a time, the outlier layer most sensitive, the model restored, deterministic") {
  Fixture f;
  const auto before = f.net->state_dict();
  NoGradGuard no_grad;
  const Tensor x = f.eval_set->get(0, f.g).image.reshape({1, 8, 6, 6});
  const auto float_out = (*f.net)(x).to_vector<float>();

  const quant::SensitivityResult s = f.sensitivity();
  CHECK(s.has_labels);
  CHECK(s.images == 256);
  CHECK(s.float_accuracy == 1.0);
  REQUIRE(s.layers.size() == 4 * 3);  // conv_a, conv_b, conv_c, fc at 8, 4, 2 bits

  // The float layers are back, with the same weights and the same function.
  for (auto& [name, m] : f.net->named_modules()) CHECK(m->type_name().rfind("Quant", 0) != 0);
  CHECK(f.net->state_dict().size() == before.size());
  CHECK((*f.net)(x).to_vector<float>() == float_out);

  for (const char* name : {"conv_a", "conv_b", "conv_c", "fc"}) {
    CAPTURE(name);
    const auto* w8 = s.find(name, 8);
    const auto* w2 = s.find(name, 2);
    REQUIRE(w8);
    REQUIRE(w2);
    CHECK(w8->weights == (std::string(name) == "fc" ? 80 : 576));
    CHECK(w8->activation_bits == 8);
    CHECK(w8->output_sqnr_db > 25);  // 8-bit weights and activations of one layer: nearly float
    CHECK(w8->output_sqnr_db > w2->output_sqnr_db);
    CHECK(w2->accuracy_drop == doctest::Approx(1.0 - w2->accuracy));
  }
  // Of the three equal convs, conv_b loses the most at 4 and at 2 bits (measured: 23 dB
  // against 37 and 46 at 4 bits).
  for (const char* other : {"conv_a", "conv_c"})
    for (int bits : {4, 2}) {
      CAPTURE(other);
      CAPTURE(bits);
      CHECK(s.find("conv_b", bits)->output_sqnr_db < s.find(other, bits)->output_sqnr_db - 3);
      CHECK(s.find("conv_b", bits)->accuracy_drop > s.find(other, bits)->accuracy_drop);
    }

  // The same calibration loader and images: the same figures, to the bit.
  const quant::SensitivityResult again = f.sensitivity();
  REQUIRE(again.layers.size() == s.layers.size());
  for (size_t i = 0; i < s.layers.size(); ++i) {
    CHECK(again.layers[i].output_sqnr_db == s.layers[i].output_sqnr_db);
    CHECK(again.layers[i].accuracy == s.layers[i].accuracy);
  }

  // The JSON the HTML report reads.
  const std::string json = quant::sensitivity_json(s, "three_convs", "noise");
  CHECK(json.find("\"metric\": \"accuracy_drop\"") != std::string::npos);
  CHECK(json.find("\"name\": \"conv_b\"") != std::string::npos);
  CHECK(json.find("\"output_sqnr_db\"") != std::string::npos);
  const quant::SensitivityResult read = quant::parse_sensitivity_json(json, "sensitivity.json");
  REQUIRE(read.layers.size() == s.layers.size());
  CHECK(read.float_accuracy == s.float_accuracy);
  CHECK(read.layers[4].name == "conv_b");
  CHECK(read.layers[4].weight_bits == 4);
  CHECK(read.layers[4].output_sqnr_db == doctest::Approx(s.layers[4].output_sqnr_db));
  testing::expect_error([] { quant::parse_sensitivity_json("{\"layers\": 3}", "bad.json"); },
                        "'bad.json' is not a sensitivity table");

  const auto listed = quant::weight_layers(*f.net);
  REQUIRE(listed.size() == 4);
  CHECK(listed[1].name == "conv_b");
  CHECK(listed[3].kind == "linear");
  CHECK(listed[3].output_channels == 10);

  testing::expect_error([&] {
    quant::SensitivityOptions options;
    options.layers = {"conv_z*"};
    quant::layer_sensitivity(*f.net, f.calib, quant::take_batches(f.eval, 64), options);
  }, "'conv_z*' matches no conv or linear layer");
}

TEST_CASE("bit allocation: budget kept in the real program file, the sensitive layer keeps more bits") {
  Fixture f;
  testing::TempDir dir;
  const quant::SensitivityResult s = f.sensitivity();
  const auto costs = quant::sensitivity_costs(s, quant::SensitivityMetric::output_noise);
  REQUIRE(costs.size() == 4);
  for (const auto& l : costs)  // most bits first, costs non-increasing in the bits
    for (size_t k = 1; k < l.costs.size(); ++k) CHECK(l.costs[k].second >= l.costs[k - 1].second);

  quant::QuantConfig w8a8 = quant::preset("w8a8");
  w8a8.observer = "minmax";
  const int64_t w8_bytes = f.program_bytes(w8a8, dir);
  const auto size = quant::ProgramSizeModel::from_program(w8_bytes, quant::weight_layers(*f.net));
  CHECK(size.fixed_bytes > 0);

  // The smallest program: each layer at its smallest width. Then room for one 576-weight
  // conv at 4 bits instead of 2 (144 bytes more), not for two.
  int64_t least = size.fixed_bytes;
  for (const auto& l : costs)
    least += std::min({size.layer_bytes(l.weights, 2), size.layer_bytes(l.weights, 4), size.layer_bytes(l.weights, 8)});
  const quant::BitAllocation smallest = quant::allocate_bits(costs, least, size);
  CHECK(smallest.predicted_bytes == least);
  const int64_t budget = smallest.predicted_bytes + 144 + 100;
  const quant::BitAllocation a = quant::allocate_bits(costs, budget, size);
  CHECK(a.predicted_bytes <= budget);
  CHECK(bits_of(a, "conv_b") == 4);
  CHECK(bits_of(a, "conv_a") == 2);
  CHECK(bits_of(a, "conv_c") == 2);
  CHECK(bits_of(a, "fc") == 8);  // 80 codes at 8 bits are smaller than packed ones with their header

  // prepare, calibrate and convert with the chosen overrides: the file is within the budget
  // and the prediction is an upper bound that is close.
  const quant::QuantConfig mixed = a.apply(w8a8);
  CHECK(mixed.overrides.size() == 4);
  const int64_t real = f.program_bytes(mixed, dir);
  CHECK(real <= a.predicted_bytes);
  CHECK(real > a.predicted_bytes - 3 * size.packed_layer_bytes);
  CHECK(real <= budget);

  // A generous budget: everything at 8 bits, the W8A8 program's own size.
  const quant::BitAllocation all8 = quant::allocate_bits(costs, w8_bytes, size);
  for (const auto& l : all8.layers) CHECK(l.weight_bits == 8);
  CHECK(all8.predicted_bytes == w8_bytes);

  // Deterministic.
  const quant::BitAllocation b = quant::allocate_bits(costs, budget, size);
  for (size_t i = 0; i < a.layers.size(); ++i) CHECK(a.layers[i].weight_bits == b.layers[i].weight_bits);

  testing::expect_error([&] { quant::allocate_bits(costs, smallest.predicted_bytes - 1, size); },
                        "below the smallest program these layers allow, " + std::to_string(smallest.predicted_bytes) + " bytes");
}

TEST_CASE("bit allocation is optimal: against every choice of 3 widths for 7 layers") {
  Generator g(5);
  std::vector<quant::LayerBitCosts> layers;
  for (int l = 0; l < 7; ++l) {
    const auto weights = static_cast<int64_t>(100 + g.next_u64() % 5000);
    const double c2 = 1 + 10 * g.uniform(), c4 = c2 * g.uniform(), c8 = c4 * 0.1 * g.uniform();
    layers.push_back({"layer" + std::to_string(l), weights, {{8, c8}, {4, c4}, {2, c2}}});
  }
  const quant::ProgramSizeModel size{1000, 64};
  for (int64_t budget : {9000, 12000, 15000, 20000, 26000}) {
    CAPTURE(budget);
    double best = std::numeric_limits<double>::infinity();
    for (int code = 0; code < 3 * 3 * 3 * 3 * 3 * 3 * 3; ++code) {
      int64_t bytes = size.fixed_bytes;
      double cost = 0;
      for (int l = 0, c = code; l < 7; ++l, c /= 3) {
        const auto& [bits, value] = layers[static_cast<size_t>(l)].costs[static_cast<size_t>(c % 3)];
        bytes += size.layer_bytes(layers[static_cast<size_t>(l)].weights, bits);
        cost += value;
      }
      if (bytes <= budget) best = std::min(best, cost);
    }
    if (!std::isfinite(best)) {
      CHECK_THROWS_AS(quant::allocate_bits(layers, budget, size), Error);
      continue;
    }
    const quant::BitAllocation a = quant::allocate_bits(layers, budget, size);
    CHECK(a.predicted_bytes <= budget);
    CHECK(a.cost == doctest::Approx(best).epsilon(1e-12));
  }
}
