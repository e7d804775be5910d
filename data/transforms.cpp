#include "data/transforms.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace intrain::data {

Transform compose(std::vector<Transform> transforms) {
  return [transforms = std::move(transforms)](const Tensor& image, Generator& gen) {
    Tensor x = image;
    for (const Transform& t : transforms) x = t(x, gen);
    return x;
  };
}

Transform normalize(std::vector<float> mean, std::vector<float> std) {
  INTRAIN_CHECK(!mean.empty() && mean.size() == std.size(), "normalize: mean and std need the same, non-zero length");
  for (float s : std) INTRAIN_CHECK(s > 0, "normalize: std must be positive, got ", s);
  return [mean = std::move(mean), std = std::move(std)](const Tensor& image, Generator&) {
    const int64_t channels = image.size(0), plane = image.numel() / channels;
    INTRAIN_CHECK(mean.size() == 1 || static_cast<int64_t>(mean.size()) == channels, "normalize: ", mean.size(),
                  " means for an image with ", channels, " channels");
    Tensor out = image.contiguous().clone();
    float* p = out.data<float>();
    for (int64_t c = 0; c < channels; ++c) {
      const size_t k = mean.size() == 1 ? 0 : static_cast<size_t>(c);
      const float m = mean[k], inv = 1.0f / std[k];
      for (int64_t i = 0; i < plane; ++i) p[c * plane + i] = (p[c * plane + i] - m) * inv;
    }
    return out;
  };
}

Transform random_crop(int64_t size, int64_t padding) {
  INTRAIN_CHECK(size > 0 && padding >= 0, "random_crop: invalid size ", size, " or padding ", padding);
  return [size, padding](const Tensor& image, Generator& gen) {
    const int64_t channels = image.size(0), h = image.size(1), w = image.size(2);
    const int64_t ph = h + 2 * padding, pw = w + 2 * padding;
    INTRAIN_CHECK(ph >= size && pw >= size, "random_crop: a ", size, "x", size, " crop does not fit a ", h, "x", w,
                  " image padded by ", padding);
    const auto top = static_cast<int64_t>(gen.next_u64() % static_cast<uint64_t>(ph - size + 1));
    const auto left = static_cast<int64_t>(gen.next_u64() % static_cast<uint64_t>(pw - size + 1));
    Tensor src = image.contiguous(), out = Tensor::zeros({channels, size, size});
    const float* s = src.data<float>();
    float* o = out.data<float>();
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t y = 0; y < size; ++y) {
        const int64_t sy = top + y - padding;
        if (sy < 0 || sy >= h) continue;
        for (int64_t x = 0; x < size; ++x) {
          const int64_t sx = left + x - padding;
          if (sx >= 0 && sx < w) o[(c * size + y) * size + x] = s[(c * h + sy) * w + sx];
        }
      }
    return out;
  };
}

Transform random_horizontal_flip(float p) {
  return [p](const Tensor& image, Generator& gen) {
    if (gen.uniform() >= p) return image;
    Tensor src = image.contiguous(), out = Tensor::empty(image.shape());
    const int64_t w = image.size(-1), rows = image.numel() / w;
    const float* s = src.data<float>();
    float* o = out.data<float>();
    for (int64_t r = 0; r < rows; ++r) std::reverse_copy(s + r * w, s + (r + 1) * w, o + r * w);
    return out;
  };
}

}  // namespace intrain::data
