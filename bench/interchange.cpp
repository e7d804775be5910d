// Models from PyTorch through intrain: each state dict bench/pytorch_interchange.py saved
// (PyTorch's own names and types) loads into our model of the same name with no mapping;
// the float logits are compared with PyTorch's on the same inputs, then the model is
// quantized (PTQ, W8A8 per channel, calibrated on the first inputs) and converted, and the
// int8 executor's top-1 is compared with PyTorch's float top-1 (and the labels, if any).
//   /usr/bin/python3 bench/pytorch_interchange.py && build/bench/interchange [--dir runs/interchange]
//       [--preset w8a8] [--cle] [--adaround --adaround-iterations N --adaround-images N]
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "core/safetensors.hpp"
#include "core/tensor_copy.hpp"
#include "data/loader.hpp"
#include "data/tensor_dataset.hpp"
#include "int8/executor.hpp"
#include "models/registry.hpp"
#include "quant/adaround.hpp"
#include "quant/config.hpp"
#include "quant/convert.hpp"
#include "quant/equalize.hpp"
#include "quant/prepare.hpp"

using namespace intrain;

namespace {

struct Agreement {
  double top1_agreement = 0, accuracy = -1;
};

Agreement compare(const Tensor& logits, const Tensor& reference, const Tensor& labels) {
  const auto a = argmax(logits, 1).to_vector<int32_t>(), b = argmax(reference, 1).to_vector<int32_t>();
  Agreement out;
  int64_t agree = 0, right = 0;
  for (size_t i = 0; i < a.size(); ++i) agree += a[i] == b[i];
  out.top1_agreement = static_cast<double>(agree) / static_cast<double>(a.size());
  if (labels.defined()) {
    const auto y = labels.to_vector<int32_t>();
    for (size_t i = 0; i < a.size(); ++i) right += a[i] == y[i];
    out.accuracy = static_cast<double>(right) / static_cast<double>(a.size());
  }
  return out;
}

Tensor forward_in_batches(const std::function<Tensor(const Tensor&)>& run, const Tensor& input, int64_t batch) {
  Tensor out;
  for (int64_t i = 0; i < input.size(0); i += batch) {
    const int64_t n = std::min(batch, input.size(0) - i);
    const Tensor part = run(input.narrow(0, i, n).contiguous());
    if (!out.defined()) out = Tensor::empty({input.size(0), part.size(1)});
    copy_into(out.narrow(0, i, n), part);
  }
  return out;
}

// The PTQ passes to run around calibration.
struct Passes {
  bool cle = false, cle_keep_relu6 = false, adaround = false;
  int64_t adaround_iterations = 200, adaround_images = 32;
};

void measure(const std::string& name, const std::string& dir, int64_t calibration_images, quant::QuantConfig config,
             const Passes& passes) {
  const std::string weights = dir + "/" + name + ".safetensors", inputs = dir + "/" + name + ".data.safetensors";
  if (!std::filesystem::exists(weights) || !std::filesystem::exists(inputs)) {
    std::printf("%-13s skipped: %s or its .data file is missing (run bench/pytorch_interchange.py)\n", name.c_str(),
                weights.c_str());
    return;
  }
  SafetensorsFile state = load_safetensors(weights), data = load_safetensors(inputs);
  const Tensor input = data.tensors.at("input"), reference = data.tensors.at("logits");
  const Tensor labels = data.tensors.count("labels") ? data.tensors.at("labels") : Tensor();
  Generator gen(1);
  nn::ModulePtr model = models::make_model(name, gen);
  model->load_state_dict(state.tensors);  // strict: every PyTorch name and shape, no mapping
  model->eval();
  const int64_t batch = input.size(2) > 64 ? 20 : 1000;
  Tensor logits;
  {
    NoGradGuard no_grad;
    logits = forward_in_batches([&](const Tensor& x) { return (*model)(x); }, input, batch);
  }
  const float worst = max(abs(sub(logits, reference))).item();
  const Agreement fp = compare(logits, reference, labels);

  // PTQ on the first inputs, then the integer-only program.
  const int64_t classes = reference.size(1);
  Tensor calib_labels = labels.defined() ? labels : Tensor::zeros({input.size(0)}, DType::i32);
  auto calib = std::make_shared<data::TensorDataset>(input.narrow(0, 0, std::min(calibration_images, input.size(0))),
                                                     calib_labels.narrow(0, 0, std::min(calibration_images, input.size(0))),
                                                     classes);
  data::DataLoader loader(calib, {.batch_size = std::min<int64_t>(batch, 100)});
  // The float model as PTQ sees it (equalized, when CLE runs): AdaRound's targets.
  Generator twin_gen(1);
  nn::ModulePtr float_twin = models::make_model(name, twin_gen);
  float_twin->load_state_dict(state.tensors);
  float_twin->eval();
  if (passes.cle) {
    const quant::EqualizeOptions cle{.relu6_to_relu = !passes.cle_keep_relu6};
    const quant::EqualizeResult eq = quant::equalize_cross_layer(*model, cle);
    quant::equalize_cross_layer(*float_twin, cle);
    config.cle_relu6_to_relu = eq.relu6_replaced > 0;
    // What the ReLU6 → ReLU replacement alone costs: the equalized float model against PyTorch's.
    NoGradGuard no_grad;
    const Tensor equalized = forward_in_batches([&](const Tensor& x) { return (*float_twin)(x); }, input, batch);
    std::printf("%-13s CLE: %lld pairs, %d sweeps, %lld ReLU6 -> ReLU; equalized float top-1 = PyTorch's %.2f%%\n",
                name.c_str(), static_cast<long long>(eq.pairs), eq.sweeps, static_cast<long long>(eq.relu6_replaced),
                100 * compare(equalized, reference, Tensor()).top1_agreement);
  }
  quant::prepare_ptq(*model, config);
  quant::calibrate(*model, loader, loader.batches_per_epoch());
  if (passes.adaround) {
    quant::AdaRoundOptions options;
    options.iterations = passes.adaround_iterations;
    options.batch_size = std::min<int64_t>(options.batch_size, passes.adaround_images);
    options.capture_batch = std::min<int64_t>(batch, options.capture_batch);
    const Tensor images = input.narrow(0, 0, std::min(passes.adaround_images, input.size(0))).contiguous();
    double nearest = 0, learned = 0;
    for (const quant::AdaRoundLayer& l : quant::adaround(*model, *float_twin, images, options)) {
      nearest += l.error_nearest;
      learned += l.error_adaround;
    }
    std::printf("%-13s AdaRound: %lld iterations per layer on %lld images; summed layer error %.4g -> %.4g\n",
                name.c_str(), static_cast<long long>(options.iterations), static_cast<long long>(images.size(0)), nearest,
                learned);
  }
  int8::Executor executor(quant::convert(*model, {input.size(1), input.size(2), input.size(3)}, name));
  const Tensor int8_logits = forward_in_batches([&](const Tensor& x) { return executor.run(x); }, input, batch);
  const Agreement q = compare(int8_logits, reference, labels);
  const Agreement q_vs_ours = compare(int8_logits, logits, Tensor());
  // Logit SQNR: how far the integer program's logits are from the float ones, whatever the
  // margins (random-weight networks have tiny top-1 margins, so agreement alone says little).
  const double signal = sum(mul(reference, reference)).item();
  const Tensor noise_t = sub(int8_logits, reference);
  const double sqnr = 10 * std::log10(signal / sum(mul(noise_t, noise_t)).item());

  std::printf("%-13s %6lld inputs  max|logit - PyTorch| %.2e  float top-1 = PyTorch's %6.2f%%  int8 top-1 = PyTorch float's %6.2f%%"
              " (= ours %6.2f%%), logit SQNR %.1f dB",
              name.c_str(), static_cast<long long>(input.size(0)), worst, 100 * fp.top1_agreement, 100 * q.top1_agreement,
              100 * q_vs_ours.top1_agreement, sqnr);
  if (fp.accuracy >= 0) std::printf("  accuracy: float %.2f%%, int8 %.2f%%", 100 * fp.accuracy, 100 * q.accuracy);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"PyTorch state dicts through intrain: float agreement, PTQ, int8 agreement"};
  std::string dir = "runs/interchange";
  int64_t calibration = 100;
  std::vector<std::string> names{"lenet", "mobilenet_v2", "resnet18"};
  app.add_option("--dir", dir, "where bench/pytorch_interchange.py wrote its files");
  app.add_option("--calibration-images", calibration, "inputs PTQ calibrates on (the first ones)");
  app.add_option("--model", names, "models to measure");
  std::string observer = quant::preset("w8a8").observer, preset = "w8a8";
  app.add_option("--observer", observer, "activation observer: minmax, moving_average, percentile, mse, kl");
  app.add_option("--preset", preset, "quantization preset (w8a8, w4a8, ...)");
  Passes passes;
  app.add_flag("--cle", passes.cle, "cross-layer equalization before calibrating");
  app.add_flag("--cle-keep-relu6", passes.cle_keep_relu6, "CLE skips pairs joined by a ReLU6 instead of replacing it");
  bool per_tensor = false;
  app.add_flag("--per-tensor", per_tensor, "weights per tensor instead of per channel");
  app.add_flag("--adaround", passes.adaround, "AdaRound after calibrating");
  app.add_option("--adaround-iterations", passes.adaround_iterations, "Adam steps per layer");
  app.add_option("--adaround-images", passes.adaround_images, "the first inputs AdaRound reconstructs on");
  CLI11_PARSE(app, argc, argv);
  try {
    quant::QuantConfig config = quant::preset(preset);
    config.observer = observer;
    config.per_channel = !per_tensor;
    std::printf("%s per-%s PTQ (%s observer)%s%s, calibrated on the first %lld inputs\n", preset.c_str(),
                per_tensor ? "tensor" : "channel",
                observer.c_str(), passes.cle ? " + CLE" : "", passes.adaround ? " + AdaRound" : "",
                static_cast<long long>(calibration));
    for (const std::string& name : names) measure(name, dir, calibration, config, passes);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "interchange: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
