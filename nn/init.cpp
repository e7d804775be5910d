#include "nn/init.hpp"

#include <cmath>

namespace intrain::nn::init {

namespace {

int64_t receptive_field(const Tensor& w) {
  int64_t r = 1;
  for (int64_t d = 2; d < w.dim(); ++d) r *= w.size(d);
  return r;
}

void check_weight(const Tensor& t, const char* who) {
  INTRAIN_CHECK(t.defined() && t.dtype() == DType::f32 && t.is_contiguous(), "init::", who,
                ": expects a contiguous f32 tensor");
  INTRAIN_CHECK(t.dim() >= 2, "init::", who, ": fan in/out need a tensor of rank >= 2, got ", shape_str(t.shape()));
}

}  // namespace

int64_t fan_in(const Tensor& w) { return w.size(1) * receptive_field(w); }
int64_t fan_out(const Tensor& w) { return w.size(0) * receptive_field(w); }

void normal(Tensor& t, float mean, float std, Generator& gen) {
  float* p = t.data<float>();
  for (int64_t i = 0, i_end = t.numel(); i < i_end; ++i) p[i] = mean + std * gen.normal();
}

void uniform(Tensor& t, float low, float high, Generator& gen) {
  float* p = t.data<float>();
  for (int64_t i = 0, i_end = t.numel(); i < i_end; ++i) p[i] = low + (high - low) * gen.uniform();
}

void constant(Tensor& t, float value) {
  float* p = t.data<float>();
  for (int64_t i = 0, i_end = t.numel(); i < i_end; ++i) p[i] = value;
}

void kaiming_normal(Tensor& t, FanMode mode, Generator& gen) {
  check_weight(t, "kaiming_normal");
  const double fan = static_cast<double>(mode == FanMode::fan_in ? fan_in(t) : fan_out(t));
  normal(t, 0.0f, static_cast<float>(std::sqrt(2.0 / fan)), gen);
}

void xavier_uniform(Tensor& t, float gain, Generator& gen) {
  check_weight(t, "xavier_uniform");
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(fan_in(t) + fan_out(t)));
  uniform(t, static_cast<float>(-bound), static_cast<float>(bound), gen);
}

void xavier_normal(Tensor& t, float gain, Generator& gen) {
  check_weight(t, "xavier_normal");
  normal(t, 0.0f, static_cast<float>(gain * std::sqrt(2.0 / static_cast<double>(fan_in(t) + fan_out(t)))), gen);
}

}  // namespace intrain::nn::init
