#pragma once
// Quantization-aware training's recipe options beyond the optimizer's own: they live here
// so every front end (the CLI's `intrain qat`, a user's training loop) trains the same way.
//
//   quant::prepare_qat(*model, config);
//   nn::SGD optimizer(model->named_parameters(), lr, quant::qat_sgd_options(*model, sgd, recipe));
//   fit options.on_epoch_start = [&](int64_t e) { quant::qat_epoch_start(*model, recipe, e); };
#include <cstdint>

#include "nn/module.hpp"
#include "nn/optimizer.hpp"

namespace intrain::quant {

struct QatRecipe {
  // Weight decay of PACT's clipping levels α in place of the optimizer's (QuantLib's
  // PACT-SGD decays them on their own; Choi et al. regularize α with L2).
  double pact_decay = 0;
  // From this epoch (0-based) on, batch norms normalize with their running statistics
  // (Jacob et al. 2018's BN freezing); -1: never.
  int64_t freeze_bn_epoch = -1;
};

// `base` with the recipe's per-parameter weight decays (every PACT α of the prepared model).
nn::SgdOptions qat_sgd_options(const nn::Module& model, nn::SgdOptions base, const QatRecipe& recipe);

// Call at the start of every epoch: freezes batch norm once the recipe's epoch is reached.
void qat_epoch_start(nn::Module& model, const QatRecipe& recipe, int64_t epoch);

}  // namespace intrain::quant
