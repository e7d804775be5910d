#include "quant/qat.hpp"

#include "quant/prepare.hpp"

namespace intrain::quant {

nn::SgdOptions qat_sgd_options(const nn::Module& model, nn::SgdOptions base, const QatRecipe& recipe) {
  // PACT's α is every quantizer's parameter named "alpha" (quant/quantizers/pact.cpp).
  for (const auto& [name, p] : model.named_parameters())
    if (name == "alpha" || (name.size() > 6 && name.compare(name.size() - 6, 6, ".alpha") == 0))
      base.weight_decay_by_name[name] = recipe.pact_decay;
  return base;
}

void qat_epoch_start(nn::Module& model, const QatRecipe& recipe, int64_t epoch) {
  if (recipe.freeze_bn_epoch >= 0 && epoch >= recipe.freeze_bn_epoch) freeze_batch_norm(model);
}

}  // namespace intrain::quant
