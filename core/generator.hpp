#pragma once
// A seeded random source. Every random factory and op (rand, randn, dropout, init,
// shuffling) takes a Generator so a run is reproducible from its seed; the state can be
// saved and restored as a string so training can resume exactly.
#include <cstdint>
#include <random>
#include <string>

namespace intrain {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) : engine_(seed) {}

  void seed(uint64_t s) { engine_.seed(s); has_spare_normal_ = false; }
  uint64_t next_u64() { return engine_(); }
  // Uniform in [0, 1) with 24 random bits, the full precision of a float mantissa.
  float uniform() { return static_cast<float>(engine_() >> 40) * (1.0f / 16777216.0f); }
  // Standard normal by Box-Muller; implemented here rather than std::normal_distribution
  // so the sequence is the same with every standard library.
  float normal();

  std::string state() const;
  void set_state(const std::string& state);  // throws Error on a malformed state

 private:
  std::mt19937_64 engine_;
  bool has_spare_normal_ = false;
  float spare_normal_ = 0.0f;
};

// The process-wide generator used when an op is not handed one.
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace intrain
