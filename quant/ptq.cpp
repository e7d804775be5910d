#include "quant/ptq.hpp"

#include "core/autograd.hpp"
#include "core/tensor_copy.hpp"
#include "quant/modules.hpp"

namespace intrain::quant {

bool LoaderBatches::next(Tensor& images) {
  data::Batch batch;
  if (!loader_.next(batch)) return false;
  images = batch.images;
  return true;
}

TensorBatches::TensorBatches(Tensor images, int64_t batch_size) : images_(std::move(images)), batch_size_(batch_size) {
  INTRAIN_CHECK(images_.defined() && images_.dim() >= 1 && images_.size(0) > 0, "TensorBatches: needs a non-empty batch of images");
  INTRAIN_CHECK(batch_size_ >= 1, "TensorBatches: batch size must be positive, got ", batch_size_);
}

bool TensorBatches::next(Tensor& images) {
  if (at_ >= images_.size(0)) return false;
  const int64_t n = std::min(batch_size_, images_.size(0) - at_);
  images = images_.narrow(0, at_, n).contiguous();
  at_ += n;
  return true;
}

Tensor gather_images(BatchSource& source, int64_t n, int64_t pass) {
  source.start(pass);
  std::vector<Tensor> parts;
  int64_t have = 0;
  Tensor images;
  while (have < n && source.next(images)) {
    parts.push_back(images.narrow(0, 0, std::min(n - have, images.size(0))).contiguous());
    have += parts.back().size(0);
  }
  INTRAIN_CHECK(have > 0, "ptq: the calibration set gave no images");
  Shape shape = parts.front().shape();
  shape[0] = have;
  Tensor all = Tensor::empty(shape);
  int64_t at = 0;
  for (const Tensor& p : parts) {
    copy_into(all.narrow(0, at, p.size(0)), p);
    at += p.size(0);
  }
  return all;
}

void calibrate(nn::Module& model, BatchSource& source, int64_t batches) {
  INTRAIN_CHECK(batches >= 1, "calibrate: needs at least one batch");
  model.eval();
  NoGradGuard no_grad;
  source.start(0);
  Tensor images;
  for (int64_t i = 0; i < batches && source.next(images); ++i) model(images);
  for (auto& [name, m] : model.named_modules())
    if (auto* q = dynamic_cast<ActivationQuantizer*>(m)) q->freeze();
}

PtqResult quantize_post_training(nn::Module& model, nn::Module& float_model, QuantConfig config, BatchSource& calibration,
                                 const PtqOptions& options) {
  PtqResult result;
  if (options.equalize) {
    // CLE changes the float layers (not their function); the float twin is equalized the
    // same way, so AdaRound and any comparison see the layers that were quantized.
    result.equalize = equalize_cross_layer(model, options.equalize_options);
    equalize_cross_layer(float_model, options.equalize_options);
    config.cle_relu6_to_relu = result.equalize->relu6_replaced > 0;
  }
  result.layers = prepare_ptq(model, config);
  const auto run_calibration = [&] { calibrate(model, calibration, options.calibration_batches); };
  if (options.calibration_scope) options.calibration_scope(run_calibration);
  else run_calibration();
  config.algorithm = Algorithm::minmax;
  if (options.adaround) {
    const Tensor images = gather_images(calibration, options.adaround_images, 2);
    result.adaround_images = images.size(0);
    result.adaround = adaround(model, float_model, images, options.adaround_options);
  }
  if (options.bias_correction) {
    calibration.start(1);
    Tensor images;
    INTRAIN_CHECK(calibration.next(images), "ptq: bias correction found no calibration batch");
    result.bias_corrected = correct_bias(model, images);
  }
  result.config = config;
  return result;
}

}  // namespace intrain::quant
