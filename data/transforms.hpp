#pragma once
// Per-example transforms on [C, H, W] f32 images. A Transform is a plain function object;
// compose() chains them. Random ones draw from the generator they are handed, which the
// DataLoader seeds per example, so augmentation is reproducible whatever the worker count.
#include <functional>
#include <vector>

#include "core/generator.hpp"
#include "core/tensor.hpp"

namespace intrain::data {

using Transform = std::function<Tensor(const Tensor& image, Generator& gen)>;

Transform compose(std::vector<Transform> transforms);
// (x − mean[c]) / std[c]; one value broadcasts to every channel.
Transform normalize(std::vector<float> mean, std::vector<float> std);
// Zero-pads by `padding` on every side, then crops a random size×size window.
Transform random_crop(int64_t size, int64_t padding);
// Mirrors left-right with probability p.
Transform random_horizontal_flip(float p = 0.5f);

}  // namespace intrain::data
