#pragma once
// Transforms for photographs, on f32 [C, H, W] images (values in [0, 1] until normalized),
// composable with those of data/transforms.hpp, and the standard ImageNet pipelines.
#include "data/transforms.hpp"

namespace intrain::data {

// Resizes so the shorter side becomes `size` (aspect kept), bilinear with antialiasing: when
// shrinking, the triangle filter widens with the scale, as PIL's and torchvision's.
Transform resize(int64_t size);
// Resizes to exactly height x width, same filter.
Tensor resize_image(const Tensor& image, int64_t height, int64_t width);
// The central size x size crop; its offset rounds as torchvision's CenterCrop does.
Transform center_crop(int64_t size);
// The first row (or column) of a centred `crop` in `length`: round((length − crop) / 2),
// halves to even, as torchvision (e.g. 256 → 223 starts at 16, 257 → 224 at 16, 259 → 224 at 18).
int64_t center_crop_offset(int64_t length, int64_t crop);
// Inception-style crop (Szegedy et al. 2015): a random area in [scale_min, scale_max] of the
// image and aspect ratio in [ratio_min, ratio_max] (log-uniform), resized to size x size;
// falls back to a center crop after 10 misses, as torchvision.
Transform random_resized_crop(int64_t size, float scale_min = 0.08f, float scale_max = 1.0f,
                              float ratio_min = 3.0f / 4.0f, float ratio_max = 4.0f / 3.0f);
// QuantLib's Integerise: floor(x / step) clipped to [−128, 127], so the first layer can take
// integer pixels (values stay f32, holding integers).
Transform integerise(float step = 0.020625f);

constexpr float kImageNetMean[3] = {0.485f, 0.456f, 0.406f};
constexpr float kImageNetStd[3] = {0.229f, 0.224f, 0.225f};
// RandomResizedCrop(size) → flip → normalize, and Resize(256/224·size) → CenterCrop(size) →
// normalize; with ImageNet's mean and std unless others are given.
Transform imagenet_train(int64_t size = 224, const std::vector<float>& mean = {}, const std::vector<float>& std = {});
Transform imagenet_eval(int64_t size = 224, const std::vector<float>& mean = {}, const std::vector<float>& std = {});

}  // namespace intrain::data
