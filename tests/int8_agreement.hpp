#pragma once
// Shared by the int8 tests: random "digits" to calibrate on, and the comparison of a
// fake-quantized model with its converted program (fast path bit-identical to the
// reference, top-1 agreement counted).
#include <doctest.h>

#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "data/loader.hpp"
#include "data/mnist.hpp"
#include "int8/executor.hpp"

namespace intrain::testing {

inline std::shared_ptr<data::MnistDataset> random_digits(int64_t n, Generator& g) {
  std::vector<uint8_t> pixels(static_cast<size_t>(n * 784)), labels(static_cast<size_t>(n));
  for (auto& v : pixels) v = static_cast<uint8_t>(g.next_u64());
  return std::make_shared<data::MnistDataset>(pixels, labels, 28, 28, data::normalize({0.5f}, {0.3f}));
}

// The first `n` examples of `dataset` as one batch.
inline Tensor first_images(const data::DatasetPtr& dataset, int64_t n) {
  data::DataLoader loader(dataset, {n, false, 0, false, 0, 1});
  loader.start_epoch(0);
  data::Batch b;
  loader.next(b);
  return b.images;
}

// Runs both on `images`; checks the fast executor equals the reference one exactly and
// returns how many top-1 predictions the program shares with the fake-quantized model.
inline int64_t int8_agreement(nn::Module& fake_quantized, const int8::Program& program, const Tensor& images) {
  Tensor fake;
  {
    NoGradGuard no_grad;
    fake_quantized.eval();
    fake = fake_quantized(images);
  }
  const int8::Executor fast(program), reference(program, {false});
  Tensor integer = fast.run(images);
  CHECK(integer.to_vector<float>() == reference.run(images).to_vector<float>());
  const auto a = argmax(fake, 1).to_vector<int32_t>(), b = argmax(integer, 1).to_vector<int32_t>();
  int64_t agree = 0;
  for (size_t i = 0; i < a.size(); ++i) agree += a[i] == b[i];
  MESSAGE("top-1 agreement on random images: ", agree, "/", a.size());
  return agree;
}

}  // namespace intrain::testing
