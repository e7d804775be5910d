// The built-in quantization algorithms: one registration each. A new algorithm is its file
// under quant/quantizers/ (see quant/quantizer.hpp) and one line here — explicit calls, not
// self-registering statics, because a static library's linker drops objects nobody names.
#include "quant/quantizer.hpp"

namespace intrain::quant {

void register_minmax_quantizer(QuantizerRegistry&);      // quantizers/minmax.cpp
void register_calibrated_quantizer(QuantizerRegistry&);  // quantizers/calibrated.cpp (PTQ)
void register_pact_quantizer(QuantizerRegistry&);        // quantizers/pact.cpp
void register_lsq_quantizer(QuantizerRegistry&);         // quantizers/lsq.cpp
void register_sat_quantizer(QuantizerRegistry&);         // quantizers/sat.cpp

void register_builtin_quantizers(QuantizerRegistry& registry) {
  register_minmax_quantizer(registry);
  register_calibrated_quantizer(registry);
  register_pact_quantizer(registry);
  register_lsq_quantizer(registry);
  register_sat_quantizer(registry);
}

}  // namespace intrain::quant
