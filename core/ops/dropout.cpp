// Inverted dropout: the mask is drawn from the given generator, so a seeded run repeats.
#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "core/ops/op_checks.hpp"

namespace intrain {

Tensor dropout(const Tensor& x, float p, bool training, Generator& gen) {
  detail::check_defined_f32(x, "dropout", "input");
  INTRAIN_CHECK(p >= 0.0f && p < 1.0f, "dropout: probability must be in [0, 1), got ", p);
  if (!training || p == 0.0f) return x;
  Tensor mask = Tensor::empty(x.shape());
  float* pm = mask.data<float>();
  const float keep_scale = 1.0f / (1.0f - p);
  for (int64_t i = 0, i_end = mask.numel(); i < i_end; ++i) pm[i] = gen.uniform() < p ? 0.0f : keep_scale;
  return mul(x, mask);
}

}  // namespace intrain
