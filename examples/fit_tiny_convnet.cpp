// The engine end to end, before nn/ exists: a tiny conv net (conv → batch norm → ReLU →
// max pool → linear) learns to tell horizontal, vertical and diagonal strokes apart in
// noisy 8x8 images, by plain SGD on autograd gradients.
#include <cstdio>
#include <vector>

#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "core/threads.hpp"

using namespace intrain;

namespace {

constexpr int64_t kSide = 8, kClasses = 3;

// Images of one stroke (class 0: horizontal, 1: vertical, 2: diagonal) at a random place,
// plus Gaussian noise.
void make_batch(int64_t n, Generator& gen, Tensor& images, Tensor& labels) {
  images = Tensor::randn({n, 1, kSide, kSide}, gen, 0.0f, 0.3f);
  labels = Tensor::empty({n}, DType::i32);
  float* px = images.data<float>();
  int32_t* py = labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    const auto cls = static_cast<int32_t>(gen.next_u64() % kClasses);
    const auto at = static_cast<int64_t>(gen.next_u64() % kSide);
    py[i] = cls;
    for (int64_t k = 0; k < kSide; ++k) {
      const int64_t r = cls == 0 ? at : k, c = cls == 1 ? at : (cls == 0 ? k : (k + at) % kSide);
      px[(i * kSide + r) * kSide + c] += 1.0f;
    }
  }
}

float accuracy(const Tensor& logits, const Tensor& labels) {
  const auto predicted = argmax(logits, 1).to_vector<int32_t>();
  const auto truth = labels.to_vector<int32_t>();
  int64_t right = 0;
  for (size_t i = 0; i < truth.size(); ++i) right += predicted[i] == truth[i];
  return static_cast<float>(right) / static_cast<float>(truth.size());
}

}  // namespace

int main() {
  try {
    Generator gen(2024);
    // Parameters, initialized Kaiming-style by hand (nn/ will own this later).
    Tensor conv_w = Tensor::randn({8, 1, 3, 3}, gen, 0.0f, 0.47f).set_requires_grad();
    Tensor conv_b = Tensor::zeros({8}).set_requires_grad();
    Tensor bn_w = Tensor::ones({8}).set_requires_grad();
    Tensor bn_b = Tensor::zeros({8}).set_requires_grad();
    Tensor fc_w = Tensor::randn({kClasses, 8 * 4 * 4}, gen, 0.0f, 0.09f).set_requires_grad();
    Tensor fc_b = Tensor::zeros({kClasses}).set_requires_grad();
    Tensor running_mean = Tensor::zeros({8}), running_var = Tensor::ones({8});
    std::vector<Tensor*> params = {&conv_w, &conv_b, &bn_w, &bn_b, &fc_w, &fc_b};

    auto forward = [&](const Tensor& x, bool training) {
      Tensor h = conv2d(x, conv_w, conv_b, Conv2dOptions::square(1, 1));
      h = relu(batch_norm(h, bn_w, bn_b, running_mean, running_var, training));
      h = max_pool2d(h, Pool2dOptions::square(2));
      return linear(h.flatten(1), fc_w, fc_b);
    };

    Tensor test_x, test_y;
    make_batch(512, gen, test_x, test_y);
    std::printf("intrain engine demo: %d threads; tiny conv net on synthetic 8x8 strokes\n", num_threads());
    const float lr = 0.1f;
    for (int step = 1; step <= 150; ++step) {
      Tensor x, y;
      make_batch(64, gen, x, y);
      Tensor logits = forward(x, true);
      Tensor loss = cross_entropy(logits, y);
      for (Tensor* p : params) p->zero_grad();
      loss.backward();
      {
        NoGradGuard no_grad;
        for (Tensor* p : params) {
          float* w = p->data<float>();
          const auto g = p->grad().to_vector<float>();
          for (size_t i = 0; i < g.size(); ++i) w[i] -= lr * g[i];
        }
      }
      if (step % 25 == 0) {
        NoGradGuard no_grad;
        std::printf("step %3d  train loss %.4f  batch accuracy %5.1f%%  test accuracy %5.1f%%\n", step,
                    loss.item(), 100 * accuracy(logits, y), 100 * accuracy(forward(test_x, false), test_y));
      }
    }
    NoGradGuard no_grad;
    const float final_accuracy = accuracy(forward(test_x, false), test_y);
    std::printf("final test accuracy: %.1f%% (chance: 33.3%%)\n", 100 * final_accuracy);
    return final_accuracy > 0.9f ? 0 : 1;
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
