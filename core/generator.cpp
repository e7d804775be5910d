#include "core/generator.hpp"

#include <bit>
#include <cmath>
#include <numbers>
#include <sstream>

#include "core/error.hpp"

namespace intrain {

float Generator::normal() {
  if (has_spare_normal_) {
    has_spare_normal_ = false;
    return spare_normal_;
  }
  // 1 - uniform() lies in (0, 1], so the log is finite.
  double u1 = 1.0 - static_cast<double>(uniform());
  double u2 = static_cast<double>(uniform());
  double radius = std::sqrt(-2.0 * std::log(u1));
  double angle = 2.0 * std::numbers::pi * u2;
  spare_normal_ = static_cast<float>(radius * std::sin(angle));
  has_spare_normal_ = true;
  return static_cast<float>(radius * std::cos(angle));
}

std::string Generator::state() const {
  std::ostringstream out;
  out << engine_ << ' ' << has_spare_normal_ << ' ' << std::bit_cast<uint32_t>(spare_normal_);
  return out.str();
}

void Generator::set_state(const std::string& state) {
  std::istringstream in(state);
  std::mt19937_64 engine;
  bool has_spare = false;
  uint32_t spare_bits = 0;
  in >> engine >> has_spare >> spare_bits;
  INTRAIN_CHECK(!in.fail(), "Generator::set_state: malformed generator state (",
                state.size(), " characters)");
  engine_ = engine;
  has_spare_normal_ = has_spare;
  spare_normal_ = std::bit_cast<float>(spare_bits);
}

Generator& default_generator() {
  static Generator generator;
  return generator;
}

void manual_seed(uint64_t seed) { default_generator().seed(seed); }

}  // namespace intrain
