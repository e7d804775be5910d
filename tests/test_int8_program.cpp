// int8 program files: the round trip, damaged files (every bit flip refused), and the
// validator's refusal of every out-of-range field, wrapping shape and overflowing accumulator.
#include <doctest.h>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/safetensors.hpp"
#include "int8/executor.hpp"
#include "tests/expect_error.hpp"
#include "tests/int8_helpers.hpp"
#include "tests/temp_dir.hpp"

using namespace intrain;
using namespace intrain::int8;
using intrain::testing::tables_to_test;
using intrain::testing::expect_error;
using intrain::testing::random_program;
using intrain::testing::TempDir;

namespace {

// Rewrites a program file with its graph JSON edited (and a fresh checksum, as a writer
// that meant it would leave): what the validator sees of a hostile or buggy writer.
void edit_graph(const std::string& from, const std::string& to, const std::function<void(nlohmann::json&)>& edit) {
  SafetensorsFile file = load_safetensors(from);
  nlohmann::json graph = nlohmann::json::parse(file.metadata.at("intrain_int8_program"));
  edit(graph);
  file.metadata["intrain_int8_program"] = graph.dump();
  save_safetensors(to, file.tensors, file.metadata);
}

}  // namespace

TEST_CASE("program files round-trip and reject damage with clear errors") {
  TempDir dir;
  Program p = random_program({2, 6, 6}, {{4, 3, 1, 1, 1}}, 9);
  save_program(dir / "p.int8", p);
  Program back = load_program(dir / "p.int8");
  Generator g(5);
  Tensor x = Tensor::randn({2, 2, 6, 6}, g);
  CHECK(Executor(back).run(x).to_vector<float>() == Executor(p).run(x).to_vector<float>());

  std::ifstream in(dir / "p.int8", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto write = [&](const std::string& name, const std::string& b) { std::ofstream(dir / name, std::ios::binary) << b; };
  write("truncated.int8", bytes.substr(0, bytes.size() - 10));
  CHECK_THROWS_AS(load_program(dir / "truncated.int8"), Error);
  // A program of a newer format version (written, and checksummed, by a newer intrain).
  edit_graph(dir / "p.int8", dir / "newer.int8", [](nlohmann::json& graph) { graph["version"] = 9; });
  try {
    load_program(dir / "newer.int8");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("format version 9") != std::string::npos);
  }
  // Flip bits all over the file, header and data: every one is an Error naming the file
  // (the header breaks its JSON or its structure, or the CRC-32 catches it), never a crash
  // and never a program that loads with other contents.
  int flips = 0, refused = 0;
  for (size_t i = 8; i < bytes.size(); i += 5) {
    std::string flipped = bytes;
    flipped[i] = static_cast<char>(flipped[i] ^ (1 << (i % 8)));
    ++flips;
    try {
      parse_program(flipped, "flipped.int8");
    } catch (const Error& e) {
      refused += std::string(e.what()).find("flipped.int8") != std::string::npos;
    }
  }
  CHECK(refused == flips);
  // 4- and 2-bit layers are packed in the file and come back as the same codes.
  Program narrow = p;
  for (Op& op : narrow.ops) {
    if (!op.weight.defined()) continue;
    op.weight_bits = &op == &narrow.ops.front() ? 4 : 2;
    const int32_t limit = op.weight_bits == 4 ? 7 : 1;
    int8_t* w = op.weight.data<int8_t>();
    for (int64_t k = 0; k < op.weight.numel(); ++k) w[k] = static_cast<int8_t>(std::clamp<int32_t>(w[k] % 8, -limit - 1, limit));
  }
  save_program(dir / "narrow.int8", narrow);
  CHECK(load_program(dir / "narrow.int8").ops.front().weight.to_vector<int8_t>() == narrow.ops.front().weight.to_vector<int8_t>());
  CHECK(load_program(dir / "narrow.int8").ops.back().weight.to_vector<int8_t>() == narrow.ops.back().weight.to_vector<int8_t>());
  CHECK(std::filesystem::file_size(dir / "narrow.int8") < std::filesystem::file_size(dir / "p.int8"));
  narrow.ops.front().weight.data<int8_t>()[0] = 100;  // does not fit 4 bits
  CHECK_THROWS_AS(save_program(dir / "bad.int8", narrow), Error);

  Program broken = p;
  broken.ops[0].out_shape[1] += 1;
  CHECK_THROWS_AS(broken.validate(), Error);
  CHECK_THROWS_AS(Executor(p).run(Tensor::zeros({1, 3, 6, 6})), Error);  // wrong input shape
  CHECK_THROWS_AS(load_program(dir / "missing.int8"), Error);
}

TEST_CASE("the program validator refuses every out-of-range field, wrapping shape and overflowing accumulator") {
  TempDir dir;
  Program p = random_program({2, 6, 6}, {{4, 3, 1, 1, 1}}, 9);
  save_program(dir / "p.int8", p);
  struct Case {
    const char* what;
    std::function<void(nlohmann::json&)> edit;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"a wrapping input shape", [](nlohmann::json& g) { g["input_shape"] = {5, int64_t{1} << 62, 1}; }, "outside 1..2^24"},
      {"a huge kernel", [](nlohmann::json& g) { g["ops"][0]["kernel"] = int64_t{1} << 32; }, "field 'kernel'"},
      {"a max-pool kernel of 2^31+2", [](nlohmann::json& g) {
         for (auto& op : g["ops"]) if (op["kind"] == "max_pool") op["kernel"] = (int64_t{1} << 31) + 2;
       }, "field 'kernel'"},
      {"an output zero point of 1000", [](nlohmann::json& g) { g["ops"][0]["output_zero_point"] = 1000; }, "output_zero_point"},
      {"an int32 field of 2^40", [](nlohmann::json& g) { g["ops"][0]["clamp_max"] = int64_t{1} << 40; }, "clamp_max"},
      {"a fractional field", [](nlohmann::json& g) { g["ops"][0]["stride"] = 1.5; }, "field 'stride'"},
      {"a negative padding", [](nlohmann::json& g) { g["ops"][0]["padding"] = -1; }, "field 'padding'"},
      {"a 25-digit dimension", [](nlohmann::json& g) { g["ops"][0]["out_shape"][0] = 1e24; }, "dimension outside"},
      {"a four-dimensional shape", [](nlohmann::json& g) { g["ops"][0]["in_shape"] = {2, 6, 6, 1}; }, "1 to 3 dimensions"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    edit_graph(dir / "p.int8", dir / "bad.int8", c.edit);
    expect_error([&] { load_program(dir / "bad.int8"); }, c.expected);
    expect_error([&] { load_program(dir / "bad.int8"); }, "bad.int8");
  }
  // Fields of tensors, checked by validate() whoever built the program.
  auto refused = [&](const std::function<void(Program&)>& edit, const char* expected) {
    Program q = p;
    for (Op& op : q.ops) {  // own copies of the tensors the edit changes
      if (op.bias.defined()) op.bias = op.bias.clone();
      if (op.multiplier.defined()) op.multiplier = op.multiplier.clone();
      if (op.output_scale.defined()) op.output_scale = op.output_scale.clone();
    }
    edit(q);
    expect_error([&] { q.validate(); }, expected);
  };
  refused([](Program& q) { q.ops[0].multiplier.data<int32_t>()[0] = -5; }, "multiplier -5");
  refused([](Program& q) { q.ops[0].multiplier.data<int32_t>()[0] = 12345; }, "multiplier 12345");
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), 0.0f, -1.0f})
    refused([&](Program& q) { q.ops.back().output_scale.data<float>()[0] = bad; }, "output scale");
  refused([](Program& q) { q.ops[0].bias.data<int32_t>()[0] = std::numeric_limits<int32_t>::max() - 10; },
          "can overflow its int32 accumulator");
  refused([](Program& q) { q.ops[0].bias.data<int32_t>()[0] = std::numeric_limits<int32_t>::min(); },
          "can overflow its int32 accumulator");
  CHECK_NOTHROW(p.validate());
  // Not a regular file: refused at once, not waited on.
  const std::string fifo = dir / "fifo.int8";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  expect_error([&] { load_program(fifo); }, "is a FIFO");
  // A multiplier from a NaN scale (a PTQ checkpoint with NaN ranges) is refused where it is made.
  CHECK_THROWS_AS(quantize_multiplier(std::numeric_limits<double>::quiet_NaN()), Error);
}

TEST_CASE("programs carry their dataset, input normalization and class names (format version 4)") {
  TempDir dir;
  Program p = random_program({3, 6, 6}, {{4, 3, 1, 1, 1}}, 9);
  p.dataset = "imagefolder:photos";
  p.input_mean = {0.485f, 0.456f, 0.406f};
  p.input_std = {0.229f, 0.224f, 0.225f};
  p.classes.clear();
  for (int64_t c = 0; c < p.num_outputs(); ++c) p.classes.push_back("class " + std::to_string(c));
  save_program(dir / "p.int8", p);
  const Program back = load_program(dir / "p.int8");
  CHECK(back.dataset == p.dataset);
  CHECK(back.input_mean == p.input_mean);
  CHECK(back.input_std == p.input_std);
  CHECK(back.classes == p.classes);

  // The validator stays strict about the new fields, and about their version.
  auto refused = [&](const char* name, const std::function<void(nlohmann::json&)>& edit, const char* needle) {
    edit_graph(dir / "p.int8", dir / name, edit);
    expect_error([&] { load_program(dir / name); }, needle);
  };
  refused("old.int8", [](nlohmann::json& g) { g["version"] = 3; }, "needs format version 4");
  refused("two_means.int8", [](nlohmann::json& g) { g["input_normalization"]["mean"] = {0.5, 0.5}; },
          "it needs none, one, or one per input channel");
  refused("zero_std.int8", [](nlohmann::json& g) { g["input_normalization"]["std"] = {0.2, 0.0, 0.2}; },
          "positive std");
  refused("huge_mean.int8", [](nlohmann::json& g) { g["input_normalization"]["mean"] = {1e300, 0, 0}; },
          "not a finite number");
  refused("classes.int8", [](nlohmann::json& g) { g["classes"] = {"only one"}; }, "class names for");
  refused("not_text.int8", [](nlohmann::json& g) { g["dataset"] = 7; }, "malformed int8 program graph");
  // A version-3 file without them loads as before.
  Program plain = random_program({3, 6, 6}, {{4, 3, 1, 1, 1}}, 9);
  save_program(dir / "plain.int8", plain);
  edit_graph(dir / "plain.int8", dir / "v3.int8", [](nlohmann::json& g) { g["version"] = 3; });
  CHECK(load_program(dir / "v3.int8").dataset.empty());
}
