#pragma once
// Where relu and relu6 clamp their output and where they pass their gradient (strictly inside
// (0, hi), as PyTorch's relu and hardtanh): one definition for the activation ops and for
// batch norm when it carries the activation in the same op.
#include <cmath>
#include <limits>

#include "core/kernels/conv.hpp"

namespace intrain::detail {

struct ActivationBounds {
  float lo, hi;            // the output's clamp
  float grad_lo, grad_hi;  // the gradient passes where grad_lo <= output <= grad_hi
};

inline ActivationBounds activation_bounds(kernels::ConvActivation activation) {
  constexpr float inf = std::numeric_limits<float>::infinity(), tiny = std::numeric_limits<float>::denorm_min();
  switch (activation) {
    case kernels::ConvActivation::relu: return {0.0f, inf, tiny, inf};
    case kernels::ConvActivation::relu6: return {0.0f, 6.0f, tiny, std::nextafter(6.0f, 0.0f)};
    case kernels::ConvActivation::none: break;
  }
  return {-inf, inf, -inf, inf};
}

}  // namespace intrain::detail
