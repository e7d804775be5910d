#pragma once
// What to quantize and how: the algorithm, bit widths, granularity, and per-layer
// overrides by name pattern; plus the named presets.
#include <string>
#include <vector>

namespace intrain::quant {

// A quantization algorithm by its registered name (quant/quantizer.hpp: a new algorithm is
// one file and one registration, not a new enumerator). The constants name the built-in ones.
class Algorithm {
 public:
  Algorithm() : name_("minmax") {}
  explicit Algorithm(std::string name) : name_(std::move(name)) {}
  const std::string& name() const { return name_; }
  friend bool operator==(const Algorithm&, const Algorithm&) = default;
  static const Algorithm minmax, pact, lsq, sat;

 private:
  std::string name_;
};
inline const Algorithm Algorithm::minmax{"minmax"};
inline const Algorithm Algorithm::pact{"pact"};
inline const Algorithm Algorithm::lsq{"lsq"};
inline const Algorithm Algorithm::sat{"sat"};

// Layers whose dotted name matches `pattern` ('*' matches any run of characters) get these
// bit widths; 0 leaves the default. Every pattern must match at least one layer.
struct LayerOverride {
  std::string pattern;
  int weight_bits = 0;
  int activation_bits = 0;
};

struct QuantConfig {
  Algorithm algorithm = Algorithm::minmax;
  int weight_bits = 8;
  int activation_bits = 8;  // 0: float activations (weights-only quantization)
  bool per_channel = true;  // weights per output channel (else per tensor)
  bool power_of_two = false;
  std::string observer = "moving_average";  // activation ranges (minmax algorithm, PTQ)
  bool sat_quantize_weights = true;         // false: SAT's 'clamp only' first stage
  std::vector<LayerOverride> overrides;
  // Cross-layer equalization ran with its ReLU6 → ReLU replacement (quant/equalize.hpp):
  // prepare repeats the replacement, so a reloaded checkpoint computes what was calibrated.
  bool cle_relu6_to_relu = false;

  void validate() const;  // throws Error on bits outside 1..8, unknown names (listing the registered ones)
  std::string to_json() const;
  static QuantConfig from_json(const std::string& text);
};

// The registered spelling of `a` (a pointer that stays valid), or "unregistered".
const char* algorithm_name(Algorithm a);
// Throws Error listing the registered algorithms when `name` is not one of them.
Algorithm parse_algorithm(const std::string& name);
// w8a8 (per-channel weights, affine activations), w8a8_pow2 (per-tensor symmetric
// power-of-two), w4a4, w4a8, w4 (weights only), w2a2.
QuantConfig preset(const std::string& name);

// Whether `name` matches a '*' glob pattern.
bool glob_match(const std::string& pattern, const std::string& name);

}  // namespace intrain::quant
