#include "quant/config.hpp"

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "quant/quantizer.hpp"

namespace intrain::quant {

const char* algorithm_name(Algorithm a) {
  const QuantizerRegistry& registry = quantizer_registry();
  return registry.contains(a.name()) ? registry.key(a.name()).c_str() : "unregistered";
}

Algorithm parse_algorithm(const std::string& name) {
  quantizer_registry().at(name);  // throws listing the registered names
  return Algorithm(name);
}

void QuantConfig::validate() const {
  parse_algorithm(algorithm.name());
  INTRAIN_CHECK(weight_bits >= 2 && weight_bits <= 8, "quantization config: weight bits must be in 2..8, got ", weight_bits);
  INTRAIN_CHECK(activation_bits == 0 || (activation_bits >= 2 && activation_bits <= 8),
                "quantization config: activation bits must be 0 (float) or in 2..8, got ", activation_bits);
  for (const LayerOverride& o : overrides) {
    INTRAIN_CHECK(!o.pattern.empty(), "quantization config: an override has an empty layer pattern");
    INTRAIN_CHECK(o.weight_bits == 0 || (o.weight_bits >= 2 && o.weight_bits <= 8), "quantization config: override '",
                  o.pattern, "' has weight bits ", o.weight_bits, ", expected 2..8");
    INTRAIN_CHECK(o.activation_bits == 0 || (o.activation_bits >= 2 && o.activation_bits <= 8),
                  "quantization config: override '", o.pattern, "' has activation bits ", o.activation_bits,
                  ", expected 2..8");
  }
  const std::vector<std::string> observers = {"minmax", "moving_average", "percentile", "mse", "kl"};
  INTRAIN_CHECK(std::find(observers.begin(), observers.end(), observer) != observers.end(),
                "quantization config: unknown observer '", observer, "'");
}

std::string QuantConfig::to_json() const {
  nlohmann::json j = {{"algorithm", algorithm_name(algorithm)}, {"weight_bits", weight_bits},
                      {"activation_bits", activation_bits},   {"per_channel", per_channel},
                      {"power_of_two", power_of_two},         {"observer", observer},
                      {"sat_quantize_weights", sat_quantize_weights}};
  if (cle_relu6_to_relu) j["cle_relu6_to_relu"] = true;
  j["overrides"] = nlohmann::json::array();
  for (const LayerOverride& o : overrides)
    j["overrides"].push_back({{"pattern", o.pattern}, {"weight_bits", o.weight_bits}, {"activation_bits", o.activation_bits}});
  return j.dump();
}

QuantConfig QuantConfig::from_json(const std::string& text) {
  try {
    const auto j = nlohmann::json::parse(text);
    QuantConfig c;
    c.algorithm = parse_algorithm(j.at("algorithm").get<std::string>());
    c.weight_bits = j.at("weight_bits").get<int>();
    c.activation_bits = j.at("activation_bits").get<int>();
    c.per_channel = j.at("per_channel").get<bool>();
    c.power_of_two = j.at("power_of_two").get<bool>();
    c.observer = j.at("observer").get<std::string>();
    c.sat_quantize_weights = j.value("sat_quantize_weights", true);
    c.cle_relu6_to_relu = j.value("cle_relu6_to_relu", false);
    for (const auto& o : j.at("overrides"))
      c.overrides.push_back({o.at("pattern").get<std::string>(), o.at("weight_bits").get<int>(),
                             o.at("activation_bits").get<int>()});
    c.validate();
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("quantization config: malformed JSON: ") + e.what());
  }
}

QuantConfig preset(const std::string& name) {
  QuantConfig c;
  if (name == "w8a8") return c;
  if (name == "w8a8_pow2") {
    c.per_channel = false;
    c.power_of_two = true;
    return c;
  }
  if (name == "w4a4") { c.weight_bits = 4; c.activation_bits = 4; return c; }
  if (name == "w4a8") { c.weight_bits = 4; return c; }
  if (name == "w4") { c.weight_bits = 4; c.activation_bits = 0; return c; }
  if (name == "w2a2") { c.weight_bits = 2; c.activation_bits = 2; return c; }
  throw Error("unknown quantization preset '" + name + "' (known: w8a8, w8a8_pow2, w4a4, w4a8, w4, w2a2)");
}

bool glob_match(const std::string& pattern, const std::string& name) {
  // Iterative '*' matching with backtracking to the last star.
  size_t p = 0, n = 0, star = std::string::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace intrain::quant
