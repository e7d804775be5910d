#include "data/image_transforms.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "core/error.hpp"

namespace intrain::data {

namespace {

struct Taps {
  std::vector<int64_t> first;  // first input index per output
  std::vector<std::vector<float>> weights;
};

// Triangle-filter taps for resampling `in` samples to `out`, antialiased when shrinking.
Taps triangle_taps(int64_t in, int64_t out) {
  const double scale = static_cast<double>(in) / static_cast<double>(out), support = std::max(scale, 1.0);
  Taps t;
  for (int64_t o = 0; o < out; ++o) {
    const double center = (static_cast<double>(o) + 0.5) * scale;
    const auto lo = std::max<int64_t>(0, static_cast<int64_t>(std::floor(center - support)));
    const auto hi = std::min<int64_t>(in, static_cast<int64_t>(std::ceil(center + support)));
    std::vector<float> w;
    double total = 0;
    for (int64_t i = lo; i < hi; ++i) {
      const double v = std::max(0.0, 1.0 - std::fabs((static_cast<double>(i) + 0.5 - center) / support));
      w.push_back(static_cast<float>(v));
      total += v;
    }
    if (total <= 0) {  // degenerate: nearest sample
      w.assign(1, 1.0f);
      t.first.push_back(std::clamp<int64_t>(static_cast<int64_t>(center), 0, in - 1));
    } else {
      for (float& v : w) v = static_cast<float>(v / total);
      t.first.push_back(lo);
    }
    t.weights.push_back(std::move(w));
  }
  return t;
}

Tensor crop(const Tensor& image, int64_t top, int64_t left, int64_t height, int64_t width) {
  return image.narrow(1, top, height).narrow(2, left, width).contiguous();
}

}  // namespace

Tensor resize_image(const Tensor& image_in, int64_t height, int64_t width) {
  INTRAIN_CHECK(image_in.dim() == 3 && height > 0 && width > 0, "resize: expects [C, H, W] and a positive size, got ",
                shape_str(image_in.shape()));
  Tensor image = image_in.contiguous();
  const int64_t c = image.size(0), h = image.size(1), w = image.size(2);
  if (h == height && w == width) return image;
  const Taps tx = triangle_taps(w, width), ty = triangle_taps(h, height);
  Tensor mid = Tensor::empty({c, h, width}), out = Tensor::empty({c, height, width});
  const float* src = image.data<float>();
  float* m = mid.data<float>();
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < width; ++x) {
        const float* row = src + (ch * h + y) * w + tx.first[static_cast<size_t>(x)];
        const auto& wt = tx.weights[static_cast<size_t>(x)];
        float s = 0;
        for (size_t k = 0; k < wt.size(); ++k) s += wt[k] * row[k];
        m[(ch * h + y) * width + x] = s;
      }
  float* o = out.data<float>();
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t y = 0; y < height; ++y) {
      const auto& wt = ty.weights[static_cast<size_t>(y)];
      const int64_t y0 = ty.first[static_cast<size_t>(y)];
      for (int64_t x = 0; x < width; ++x) {
        float s = 0;
        for (size_t k = 0; k < wt.size(); ++k) s += wt[k] * m[(ch * h + y0 + static_cast<int64_t>(k)) * width + x];
        o[(ch * height + y) * width + x] = s;
      }
    }
  return out;
}

Transform resize(int64_t size) {
  INTRAIN_CHECK(size > 0, "resize: size must be positive");
  return [size](const Tensor& image, Generator&) {
    const int64_t h = image.size(1), w = image.size(2);
    if (h <= w) return resize_image(image, size, std::max<int64_t>(1, w * size / h));
    return resize_image(image, std::max<int64_t>(1, h * size / w), size);
  };
}

int64_t center_crop_offset(int64_t length, int64_t crop) {
  // torchvision: int(round((length - crop) / 2.0)) with Python's round, half to even. The
  // halves come only from odd differences: d = 2k + 1 gives k + 0.5, which rounds to k
  // when k is even and to k + 1 when k is odd (a plain floor is one pixel off for those).
  const int64_t difference = length - crop, half = difference / 2;
  return difference % 2 == 0 ? half : half + (half & 1);
}

Transform center_crop(int64_t size) {
  INTRAIN_CHECK(size > 0, "center_crop: size must be positive");
  return [size](const Tensor& image, Generator&) {
    const int64_t h = image.size(1), w = image.size(2);
    INTRAIN_CHECK(h >= size && w >= size, "center_crop: a ", size, "x", size, " crop does not fit a ", h, "x", w,
                  " image (resize first)");
    return crop(image, center_crop_offset(h, size), center_crop_offset(w, size), size, size);
  };
}

Transform random_resized_crop(int64_t size, float scale_min, float scale_max, float ratio_min, float ratio_max) {
  INTRAIN_CHECK(size > 0 && 0 < scale_min && scale_min <= scale_max && scale_max <= 1 && 0 < ratio_min &&
                    ratio_min <= ratio_max,
                "random_resized_crop: invalid size, scale or ratio range");
  return [=](const Tensor& image, Generator& gen) {
    const int64_t h = image.size(1), w = image.size(2);
    const double area = static_cast<double>(h) * static_cast<double>(w);
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double target = area * (scale_min + (scale_max - scale_min) * gen.uniform());
      const double log_ratio = std::log(ratio_min) + (std::log(ratio_max) - std::log(ratio_min)) * gen.uniform();
      const double ratio = std::exp(log_ratio);
      const auto cw = static_cast<int64_t>(std::round(std::sqrt(target * ratio)));
      const auto ch = static_cast<int64_t>(std::round(std::sqrt(target / ratio)));
      if (cw > 0 && ch > 0 && cw <= w && ch <= h) {
        const auto top = static_cast<int64_t>(gen.next_u64() % static_cast<uint64_t>(h - ch + 1));
        const auto left = static_cast<int64_t>(gen.next_u64() % static_cast<uint64_t>(w - cw + 1));
        return resize_image(crop(image, top, left, ch, cw), size, size);
      }
    }
    const int64_t side = std::min(h, w);  // fallback: the central square
    return resize_image(crop(image, (h - side) / 2, (w - side) / 2, side, side), size, size);
  };
}

Transform integerise(float step) {
  INTRAIN_CHECK(step > 0, "integerise: step must be positive");
  return [step](const Tensor& image, Generator&) {
    Tensor out = image.contiguous().clone();
    float* p = out.data<float>();
    for (int64_t i = 0, i_end = out.numel(); i < i_end; ++i) p[i] = std::clamp(std::floor(p[i] / step), -128.0f, 127.0f);
    return out;
  };
}

namespace {

std::vector<float> or_imagenet(const std::vector<float>& given, const float (&standard)[3]) {
  return given.empty() ? std::vector<float>(std::begin(standard), std::end(standard)) : given;
}

}  // namespace

Transform imagenet_train(int64_t size, const std::vector<float>& mean, const std::vector<float>& std) {
  return compose({random_resized_crop(size), random_horizontal_flip(0.5f),
                  normalize(or_imagenet(mean, kImageNetMean), or_imagenet(std, kImageNetStd))});
}

Transform imagenet_eval(int64_t size, const std::vector<float>& mean, const std::vector<float>& std) {
  return compose({resize(size * 256 / 224), center_crop(size),
                  normalize(or_imagenet(mean, kImageNetMean), or_imagenet(std, kImageNetStd))});
}

}  // namespace intrain::data
