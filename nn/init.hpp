#pragma once
// Parameter initializers. Each fills a tensor in place from a seeded generator, so a model
// built with the same seed starts from the same weights. fan_in / fan_out follow PyTorch:
// for a weight [out, in, kh, kw], fan_in = in·kh·kw and fan_out = out·kh·kw.
#include "core/generator.hpp"
#include "core/tensor.hpp"

namespace intrain::nn::init {

enum class FanMode { fan_in, fan_out };

int64_t fan_in(const Tensor& weight);
int64_t fan_out(const Tensor& weight);

// N(0, gain² / fan) with gain = sqrt(2) (ReLU), He et al. 2015.
void kaiming_normal(Tensor& t, FanMode mode = FanMode::fan_in, Generator& gen = default_generator());
// U(-b, b) with b = gain·sqrt(6 / (fan_in + fan_out)), Glorot & Bengio 2010.
void xavier_uniform(Tensor& t, float gain = 1.0f, Generator& gen = default_generator());
// N(0, gain²·2 / (fan_in + fan_out)).
void xavier_normal(Tensor& t, float gain = 1.0f, Generator& gen = default_generator());
void normal(Tensor& t, float mean, float std, Generator& gen = default_generator());
void uniform(Tensor& t, float low, float high, Generator& gen = default_generator());
void constant(Tensor& t, float value);

}  // namespace intrain::nn::init
