// core's runtime library on its own: this suite links intrain_runtime and nothing else (no
// autograd, no float kernels, no OpenBLAS, no oneDNN), as the int8 executor, data loading
// and intrain-infer do. That it links at all is half the test: a runtime file that reached
// for autograd or a float back-end would leave an undefined symbol here.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/safetensors.hpp"
#include "core/tensor.hpp"
#include "core/tensor_copy.hpp"
#include "core/threads.hpp"

using namespace intrain;

TEST_CASE("runtime alone: views share storage and keep their geometry") {
  Tensor t = Tensor::arange(24).reshape({2, 3, 4});
  CHECK(t.shape() == Shape{2, 3, 4});
  Tensor p = t.permute({2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK_FALSE(p.is_contiguous());
  CHECK(p.storage() == t.storage());
  CHECK(p.at({3, 1, 2}) == t.at({1, 2, 3}));
  Tensor n = t.narrow(1, 1, 2);
  CHECK(n.shape() == Shape{2, 2, 4});
  CHECK(n.at({0, 0, 0}) == 4);
  Tensor c = p.contiguous();
  CHECK(c.is_contiguous());
  CHECK(c.storage() != t.storage());
  CHECK(c.to_vector<float>() == p.clone().to_vector<float>());
  CHECK(t.flatten().to(DType::i32).to_vector<int32_t>()[23] == 23);
  // Nothing here requires grad, so no view recorded a node.
  for (const Tensor& v : {p, n, c, t.reshape({6, 4}), t.transpose(0, 2)}) {
    CHECK_FALSE(v.requires_grad());
    CHECK(v.is_leaf());
  }
}

TEST_CASE("runtime alone: copies, conversions and wrapping shapes") {
  Tensor dst = Tensor::zeros({3, 2});
  copy_into(dst, Tensor::arange(6).reshape({2, 3}).t());
  CHECK(dst.to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
  CHECK(Tensor::full({2}, -1.7, DType::i8).to_vector<int8_t>() == std::vector<int8_t>{-1, -1});
  CHECK_THROWS_WITH_AS(Tensor::empty({int64_t{1} << 40, int64_t{1} << 40}), doctest::Contains("more than 2^63"),
                       Error);
}

TEST_CASE("runtime alone: safetensors round trip with a checksum") {
  const std::string path = (std::filesystem::temp_directory_path() / "intrain_runtime_alone.safetensors").string();
  std::map<std::string, Tensor> tensors{{"w", Tensor::randn({3, 5})},
                                        {"codes", Tensor::from_vector<int8_t>({-128, 0, 127}, {3})}};
  save_safetensors(path, tensors, {{"format", "runtime-test"}});
  SafetensorsFile loaded = load_safetensors(path);
  CHECK(loaded.metadata.at("format") == "runtime-test");
  CHECK(loaded.tensors.at("w").to_vector<float>() == tensors["w"].to_vector<float>());
  CHECK(loaded.tensors.at("codes").to_vector<int8_t>() == tensors["codes"].to_vector<int8_t>());
  std::remove(path.c_str());
  CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains(path.c_str()), Error);
}

TEST_CASE("runtime alone: the thread pool covers every index once") {
  std::vector<std::atomic<int>> hits(1000);
  parallel_for(1000, 7, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)]++;
  });
  for (const auto& h : hits) CHECK(h.load() == 1);
}
