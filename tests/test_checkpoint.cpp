// safetensors files and training checkpoints: round trips, the format on disk, atomic
// writes, and every kind of damaged file.
#include <doctest.h>

#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/autograd.hpp"
#include "core/safetensors.hpp"
#include "models/lenet.hpp"
#include "nn/optimizer.hpp"
#include "tests/expect_error.hpp"
#include "tests/temp_dir.hpp"
#include "train/checkpoint.hpp"

using namespace intrain;
using intrain::testing::TempDir;
using intrain::testing::expect_error;

namespace {

void write_raw(const std::string& path, const std::string& header, const std::string& data) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  std::ofstream(path, std::ios::binary) << bytes << header << data;
}

}  // namespace

TEST_CASE("safetensors round-trips tensors of every dtype with metadata") {
  TempDir dir;
  std::map<std::string, Tensor> tensors{
      {"a.weight", Tensor::arange(6).reshape({2, 3})},
      {"b", Tensor::from_vector(std::vector<int32_t>{-5, 7}, {2})},
      {"c", Tensor::from_vector(std::vector<int8_t>{-128, 127}, {2})},
      {"d", Tensor::from_vector(std::vector<uint8_t>{0, 255, 9}, {3})},
      {"scalar", Tensor::scalar(2.5f)},
      {"view", Tensor::arange(6).reshape({2, 3}).t()},  // non-contiguous input is written row-major
  };
  save_safetensors(dir / "x.safetensors", tensors, {{"epoch", "3"}});
  SafetensorsFile f = load_safetensors(dir / "x.safetensors");
  CHECK(f.metadata.at("epoch") == "3");
  REQUIRE(f.tensors.size() == tensors.size());
  for (auto& [name, t] : tensors) {
    CAPTURE(name);
    CHECK(f.tensors.at(name).shape() == t.shape());
    CHECK(f.tensors.at(name).dtype() == t.dtype());
    CHECK(f.tensors.at(name).to_vector<float>() == t.to_vector<float>());
  }
  // The layout on disk is the published one: u64 header length, JSON, aligned data.
  std::ifstream in(dir / "x.safetensors", std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  std::string header(n, ' ');
  in.read(header.data(), static_cast<std::streamsize>(n));
  CHECK(n % 8 == 0);
  CHECK(header.find("\"a.weight\":{\"data_offsets\":[0,24],\"dtype\":\"F32\",\"shape\":[2,3]}") != std::string::npos);
}

TEST_CASE("safetensors reads a file written by another implementation") {
  TempDir dir;
  const float values[2] = {1.5f, -2.0f};
  write_raw(dir / "ext.safetensors",
            R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
            std::string(reinterpret_cast<const char*>(values), 8));
  SafetensorsFile f = load_safetensors(dir / "ext.safetensors");
  CHECK(f.tensors.at("w").to_vector<float>() == std::vector<float>{1.5f, -2.0f});
  CHECK(f.metadata.at("format") == "pt");
}

TEST_CASE("safetensors reads F16, BF16 and F64 as f32 and I64 as i32, refusing what int32 cannot hold") {
  TempDir dir;
  // 1.5, -2, 65504 (the largest half), 2^-24 (the smallest half subnormal), infinity.
  const uint16_t half[5] = {0x3e00, 0xc000, 0x7bff, 0x0001, 0x7c00};
  const uint16_t bf16[2] = {0x3fc0, 0xc000};  // 1.5, -2
  const double f64[1] = {0.25};
  const int64_t i64[2] = {7, -3};
  std::string data(reinterpret_cast<const char*>(half), 10);
  data += std::string(reinterpret_cast<const char*>(bf16), 4);
  data += std::string(reinterpret_cast<const char*>(f64), 8);
  data += std::string(reinterpret_cast<const char*>(i64), 16);
  write_raw(dir / "t.safetensors",
            R"({"h":{"dtype":"F16","shape":[5],"data_offsets":[0,10]},)"
            R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[10,14]},)"
            R"("d":{"dtype":"F64","shape":[],"data_offsets":[14,22]},)"
            R"("n":{"dtype":"I64","shape":[2],"data_offsets":[22,38]}})",
            data);
  SafetensorsFile f = load_safetensors(dir / "t.safetensors");
  const auto h = f.tensors.at("h").to_vector<float>();
  CHECK(h[0] == 1.5f);
  CHECK(h[1] == -2.0f);
  CHECK(h[2] == 65504.0f);
  CHECK(h[3] == std::ldexp(1.0f, -24));
  CHECK(std::isinf(h[4]));
  CHECK(f.tensors.at("b").to_vector<float>() == std::vector<float>{1.5f, -2.0f});
  CHECK(f.tensors.at("d").item() == 0.25f);
  CHECK(f.tensors.at("n").dtype() == DType::i32);
  CHECK(f.tensors.at("n").to_vector<int32_t>() == std::vector<int32_t>{7, -3});
  const int64_t big = int64_t{1} << 40;
  write_raw(dir / "big.safetensors", R"({"n":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})",
            std::string(reinterpret_cast<const char*>(&big), 8));
  expect_error([&] { load_safetensors(dir / "big.safetensors"); }, "tensor 'n': int64 element 0 = 1099511627776 does not fit");
  write_raw(dir / "c.safetensors", R"({"n":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})", std::string(8, '\0'));
  expect_error([&] { load_safetensors(dir / "c.safetensors"); }, "unsupported dtype \"C64\" (F32, I32, I8, U8, F16, BF16, F64, I64 are read)");
}

TEST_CASE("a PyTorch state dict loads with no renaming and gives PyTorch's logits") {
  // tests/fixtures/lenet*.safetensors: made by scripts/make_pytorch_fixtures.py with
  // PyTorch's own names and types (num_batches_tracked int64, BN weights as F16/BF16/F64).
  const char* fixtures = std::getenv("INTRAIN_FIXTURES");
  REQUIRE(fixtures != nullptr);
  for (const std::string name : {"lenet", "lenet5_bn"}) {
    CAPTURE(name);
    SafetensorsFile f = load_safetensors(std::string(fixtures) + "/" + name + ".safetensors");
    const Tensor input = f.tensors.at("input"), expected = f.tensors.at("logits");
    f.tensors.erase("input");
    f.tensors.erase("logits");
    Generator gen(1);
    nn::ModulePtr model = name == "lenet" ? nn::ModulePtr(models::lenet(gen)) : nn::ModulePtr(models::lenet5_bn(gen));
    model->load_state_dict(f.tensors);  // strict: every name and shape
    model->eval();
    NoGradGuard no_grad;
    const auto got = (*model)(input).to_vector<float>(), want = expected.to_vector<float>();
    REQUIRE(got.size() == want.size());
    float worst = 0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
    CHECK(worst < 1e-4f);
    MESSAGE(name, ": max |logit - PyTorch's| = ", worst);
  }
}

TEST_CASE("damaged safetensors files give errors naming the file and the problem") {
  TempDir dir;
  const std::string p = dir / "bad.safetensors";
  std::ofstream(p) << "abc";
  expect_error([&] { load_safetensors(p); }, "is not a safetensors file");
  write_raw(p, "{\"w\":", "");
  expect_error([&] { load_safetensors(p); }, "malformed safetensors header");
  std::string truncated(8, '\0');
  truncated[0] = 100;
  std::ofstream(p, std::ios::binary) << truncated << "{}";
  expect_error([&] { load_safetensors(p); }, "is truncated");
  write_raw(p, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", std::string(8, '\0'));
  expect_error([&] { load_safetensors(p); }, "outside the file");
  write_raw(p, R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(8, '\0'));
  expect_error([&] { load_safetensors(p); }, "needs more bytes than the file's 8");
  write_raw(p, R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", std::string(16, '\0'));
  expect_error([&] { load_safetensors(p); }, "needs 12 bytes");
  write_raw(p, R"({"w":{"dtype":"C128","shape":[1],"data_offsets":[0,16]}})", std::string(16, '\0'));
  expect_error([&] { load_safetensors(p); }, "unsupported dtype");
  write_raw(p, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
            std::string(8, '\0'));
  expect_error([&] { load_safetensors(p); }, "overlap");
  write_raw(p, R"({"w":{"dtype":"F32","shape":"x","data_offsets":[0,4]}})", std::string(4, '\0'));
  expect_error([&] { load_safetensors(p); }, "not a list");
  write_raw(p, R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", std::string(4, '\0'));
  expect_error([&] { load_safetensors(p); }, "malformed entry");
  expect_error([&] { load_safetensors(dir / "none.safetensors"); }, "cannot open");
  // Numbers JSON allows but sizes do not: 25 digits, fractions, negatives, products that wrap.
  write_raw(p, R"({"w":{"dtype":"F32","shape":[1000000000000000000000000],"data_offsets":[0,4]}})", std::string(4, '\0'));
  expect_error([&] { load_safetensors(p); }, "not a non-negative integer");
  write_raw(p, R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", std::string(4, '\0'));
  expect_error([&] { load_safetensors(p); }, "not a non-negative integer");
  write_raw(p, R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", std::string(4, '\0'));
  expect_error([&] { load_safetensors(p); }, "not a non-negative integer");
  write_raw(p, R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})", "");
  expect_error([&] { load_safetensors(p); }, "needs more bytes");
  write_raw(p, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,1e2]}})", std::string(4, '\0'));
  expect_error([&] { load_safetensors(p); }, "not a non-negative integer");
  // The tensors must tile the data exactly: a gap, or bytes after the last tensor (a header
  // length one too short shifts everything by a byte and leaves one over).
  write_raw(p, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(8, '\0'));
  expect_error([&] { load_safetensors(p); }, "no tensor owns");
  write_raw(p, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", std::string(5, '\0'));
  expect_error([&] { load_safetensors(p); }, "its tensors 4");
}

TEST_CASE("loaders refuse what is not a regular file, and PyTorch pickles with advice") {
  TempDir dir;
  const std::string fifo = dir / "fifo.safetensors";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  expect_error([&] { load_safetensors(fifo); }, "is a FIFO");  // returns at once: nothing is waited for
  expect_error([&] { load_safetensors(dir.str()); }, "is a directory");
  const std::string zip = dir / "model.pt";
  std::ofstream(zip, std::ios::binary) << std::string("PK\x03\x04") << std::string(60, 'x');
  expect_error([&] { load_safetensors(zip); }, "is a PyTorch pickle");
  std::ofstream(zip, std::ios::binary) << std::string("\x80\x02") << std::string(60, 'x');
  expect_error([&] { load_safetensors(zip); }, "save it with safetensors.torch.save_file");
}

TEST_CASE("files carry a CRC-32 of header and data: any flipped bit is an error naming the file") {
  TempDir dir;
  const std::string p = dir / "c.safetensors";
  save_safetensors(p, {{"w", Tensor::full({64}, 0.25)}, {"b", Tensor::ones({3})}}, {{"note", "x"}});
  const SafetensorsFile good = load_safetensors(p);
  CHECK(good.metadata.size() == 1);  // the checksum is the file's bookkeeping, not metadata
  std::string bytes;
  {
    std::ifstream in(p, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // Bits all over the file, one at a time: the length, the header (its JSON, names,
  // shapes, offsets, metadata, the checksum itself) and the data.
  int refused = 0, flips = 0;
  for (size_t i = 0; i < bytes.size(); i += 3)
    for (int bit = i % 2; bit < 8; bit += 2) {
      std::string damaged = bytes;
      damaged[i] = static_cast<char>(damaged[i] ^ (1 << bit));
      ++flips;
      try {
        parse_safetensors(damaged, p);
      } catch (const Error& e) {
        refused += std::string(e.what()).find(p) != std::string::npos;
      }
    }
  CHECK(refused == flips);
  // Asked to, the damaged file loads (a rescue, or speed).
  std::string damaged = bytes;
  damaged.back() = static_cast<char>(damaged.back() ^ 1);
  ::setenv("INTRAIN_SKIP_CHECKSUM", "1", 1);
  CHECK_NOTHROW(parse_safetensors(damaged, p));
  ::unsetenv("INTRAIN_SKIP_CHECKSUM");
  // Files without a checksum (PyTorch's, older ones) still load: the test above of "ext.safetensors".
}

TEST_CASE("writes are atomic: a failed write leaves nothing, a good one leaves no temporary") {
  TempDir dir;
  const std::string p = dir / "ckpt.safetensors";
  save_safetensors(p, {{"w", Tensor::ones({3})}});
  save_safetensors(p, {{"w", Tensor::full({3}, 2.0)}});
  CHECK(load_safetensors(p).tensors.at("w").to_vector<float>() == std::vector<float>(3, 2.0f));
  int files = 0;
  for (auto& entry : std::filesystem::directory_iterator(dir.str())) files += entry.is_regular_file();
  CHECK(files == 1);
  CHECK_THROWS_AS(write_file_atomically(dir / "no/such/folder/x", "data"), Error);
  // Invalid input is rejected before anything is written: the previous file stays intact.
  CHECK_THROWS_AS(save_safetensors(p, {{"__metadata__", Tensor::ones({1})}}), Error);
  CHECK(load_safetensors(p).tensors.at("w").to_vector<float>() == std::vector<float>(3, 2.0f));
}

TEST_CASE("training checkpoints hold model, optimizer and run state") {
  TempDir dir;
  Generator gen(1);
  auto model = models::lenet5_bn(gen);
  nn::SGD optimizer(model->named_parameters(), 0.1, nn::SgdOptions{0.9});
  for (auto& [name, p] : model->named_parameters()) p.impl()->grad = Tensor::ones(p.shape());
  optimizer.step();
  train::RunState state{2, 123, 0.75, "lenet5_bn", gen.state()};
  train::save_checkpoint(dir / "c.safetensors", *model, &optimizer, state);

  Generator other(2);
  auto restored = models::lenet5_bn(other);
  nn::SGD restored_optimizer(restored->named_parameters(), 0.1, nn::SgdOptions{0.9});
  train::RunState loaded = train::load_checkpoint(dir / "c.safetensors", *restored, &restored_optimizer);
  CHECK(loaded.epoch == 2);
  CHECK(loaded.global_step == 123);
  CHECK(loaded.best_accuracy == doctest::Approx(0.75));
  CHECK(loaded.model_name == "lenet5_bn");
  CHECK(loaded.rng_state == gen.state());
  CHECK(restored_optimizer.steps() == 1);
  for (auto& [name, t] : model->state_dict()) CHECK(restored->state_dict().at(name).to_vector<float>() == t.to_vector<float>());

  // The model file holds the model's state only (PyTorch's strict load_state_dict takes it);
  // the optimizer's lies beside it, paired.
  for (const auto& [name, t] : load_safetensors(dir / "c.safetensors").tensors) CHECK(model->state_dict().count(name) == 1);
  const std::string side = train::optimizer_state_path(dir / "c.safetensors");
  CHECK(side == (dir / "c.optimizer-123.safetensors"));
  CHECK(std::filesystem::exists(side));
  // A newer save replaces the pair and removes the old optimizer file; a stale or missing
  // optimizer file is an error naming it, while the weights alone still load.
  std::filesystem::copy_file(side, dir / "stale.safetensors");
  state.global_step = 124;
  train::save_checkpoint(dir / "c.safetensors", *model, &optimizer, state);
  CHECK(!std::filesystem::exists(side));
  const std::string side2 = train::optimizer_state_path(dir / "c.safetensors");
  std::filesystem::remove(side2);
  std::filesystem::copy_file(dir / "stale.safetensors", side2);
  expect_error([&] { train::load_checkpoint(dir / "c.safetensors", *restored, &restored_optimizer); }, "does not belong to checkpoint");
  std::filesystem::remove(side2);
  expect_error([&] { train::load_checkpoint(dir / "c.safetensors", *restored, &restored_optimizer); }, "c.optimizer-124.safetensors' is missing");
  CHECK_NOTHROW(train::load_checkpoint(dir / "c.safetensors", *restored));

  // A checkpoint of another model: the error names the tensor and both shapes.
  auto lenet = models::lenet(gen);
  expect_error([&] { train::load_checkpoint(dir / "c.safetensors", *lenet); }, "does not fit the model");
  expect_error([&] { train::load_checkpoint(dir / "c.safetensors", *lenet); }, "'conv1.weight' has shape [6, 1, 5, 5]");
}
