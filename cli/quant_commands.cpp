// intrain ptq / qat / quant-report: post-training quantization, quantization-aware
// training, and the per-layer cost of quantization.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "core/process_stats.hpp"
#include "cli/commands.hpp"
#include "cli/data_settings.hpp"
#include "cli/limits.hpp"
#include "cli/mixed_precision.hpp"
#include "cli/model_loading.hpp"
#include "cli/precision_option.hpp"
#include "cli/run_folder.hpp"
#include "core/process_stats.hpp"
#include "core/threads.hpp"
#include "data/named_datasets.hpp"
#include "nn/layers.hpp"
#include "quant/adaround.hpp"
#include "quant/equalize.hpp"
#include "quant/ptq.hpp"
#include "quant/qat.hpp"
#include "quant/quantizer.hpp"
#include "quant/modules.hpp"
#include "quant/observer.hpp"
#include "quant/report.hpp"
#include "train/distributed.hpp"
#include "train/trainer.hpp"

namespace intrain::cli {

namespace {

struct QuantArgs {
  std::string model, checkpoint, out;
  DataFlags data;
  std::string preset = "w8a8", observer = "minmax", algo = "minmax", resume, precision = "f32";
  int wbits = 4, abits = 4, first_last_bits = 0;
  int64_t calib_batches = 16, epochs = 2, batch_size = 64, freeze_bn_epoch = -1, report_images = 256, max_steps = 0;
  double lr = 0.001, momentum = 0.9, weight_decay = 0.0, pact_decay = 0.0;
  bool per_tensor = false, clamp_only = false, no_progress = false, bias_correction = false, overwrite = false;
  bool cle = false, adaround = false, bias_absorption = false;
  BudgetFlags budget;  // ptq --budget-bytes / --budget-fraction
  bool sync_bn = false;  // qat under mpirun
  int64_t adaround_iterations = 1000, adaround_images = 256;
  double val_fraction = 0;  // qat: the float checkpoint's unless given
  bool val_fraction_given = false;
  uint64_t seed = 1;
  double max_loss = 1e3, max_weight = 1e6;
};

// The first conv/linear and the last linear at `bits` (N2D2's and QuantLib's convention).
void add_first_last_override(quant::QuantConfig& config, nn::Module& model, int bits) {
  std::vector<std::string> weight_layers;
  for (auto& [name, m] : model.named_modules())
    if (dynamic_cast<nn::Conv2d*>(m) || dynamic_cast<nn::Linear*>(m)) weight_layers.push_back(name);
  INTRAIN_CHECK(!weight_layers.empty(), "--first-last-bits: the model has no conv or linear layer");
  config.overrides.push_back({weight_layers.front(), bits, 0});
  config.overrides.push_back({weight_layers.back(), bits, 0});
}

void print_accuracy(const char* what, const train::EvalResult& r) {
  std::printf("%-24s loss %.4f  top-1 %.2f%%\n", what, r.loss, 100 * r.accuracy);
}

void run_ptq(const QuantArgs& a) {
  // Under mpirun: every rank calibrates on its shard of each batch, the observers merge the
  // shards, rank 0 writes (docs/distributed.md).
  train::Communicator& comm = train::Communicator::world();
  train::join_data_parallel_run(comm, a.batch_size, 0);
  nn::ModulePtr model = load_float_weights(a.model, a.checkpoint);
  nn::ModulePtr reference = load_float_weights(a.model, a.checkpoint);
  quant::QuantConfig config = quant::preset(a.preset);
  config.observer = a.observer;
  if (a.first_last_bits) add_first_last_override(config, *model, a.first_last_bits);
  const train::RunState source = train::read_checkpoint_state(a.checkpoint);
  const DataSettings settings = resolve_data(a.data, source, a.checkpoint);
  auto test_set = data::make_dataset(settings.dataset, data::Split::test, settings.options);
  check_images_fit(*reference, *test_set, source, settings.dataset, a.checkpoint);
  const std::string out = a.out.empty() || !comm.is_root() ? "" : claim_run_folder(a.out, true, "", a.overwrite);
  if (a.budget.given())  // per-layer weight bits from measured sensitivity, as overrides
    choose_bits_for_budget(a.budget,
                           {[&a] {
                              nn::ModulePtr m = load_float_weights(a.model, a.checkpoint);
                              if (a.cle) quant::equalize_cross_layer(*m, {.absorb_bias = a.bias_absorption});
                              return m;
                            },
                            settings, source, a.batch_size, a.calib_batches, a.seed},
                           config);
  data::DatasetOptions calib_options = settings.options;
  if (data::is_flat_image_folder(settings.dataset)) {
    std::printf("note: '%s' has no train/ and val/: calibrating on the images it is then evaluated on\n",
                settings.dataset.c_str());
    calib_options.whole_folder_for_train = true;
  }
  auto train_set = data::make_dataset(settings.dataset, data::Split::train, calib_options);
  data::DataLoader calib(train_set, {a.batch_size / comm.size(), true, a.seed, false, 1, 2});
  if (comm.distributed()) calib.set_shard(comm.rank(), comm.size(), /*pad=*/true);
  // The recipe is the library's (quant/ptq.hpp); the flags only fill its options. CLE
  // equalizes a float twin too: what AdaRound reconstructs and the report compares against.
  nn::ModulePtr float_twin = a.cle ? load_float_weights(a.model, a.checkpoint) : reference;
  quant::PtqOptions ptq;
  ptq.calibration_batches = a.calib_batches;
  ptq.equalize = a.cle;
  ptq.equalize_options.absorb_bias = a.bias_absorption;
  ptq.adaround = a.adaround;
  ptq.adaround_options.iterations = a.adaround_iterations;
  ptq.adaround_options.seed = a.seed;
  ptq.adaround_images = a.adaround_images;
  ptq.bias_correction = a.bias_correction;
  ptq.calibration_scope = [&comm, &model](const std::function<void()>& calibrate) {
    {
      quant::ObserverReductionScope merge_ranks(comm.distributed() ? train::cross_rank_reducer(comm) : nullptr);
      calibrate();
    }
    if (comm.distributed())
      std::printf("calibrated on %d ranks: quantization state identical on every rank (%lld tensors compared)\n",
                  comm.size(), static_cast<long long>(train::check_identical_across_ranks(comm, *model, "ptq calibration")));
  };
  quant::LoaderBatches calibration(calib);
  const quant::PtqResult result = quant::quantize_post_training(*model, *float_twin, config, calibration, ptq);
  config = result.config;
  const std::vector<quant::QuantizedLayer>& layers = result.layers;
  if (const auto& eq = result.equalize)
    std::printf("cross-layer equalization: %lld layer pairs, %d sweeps, %lld ReLU6 replaced by ReLU%s\n",
                static_cast<long long>(eq->pairs), eq->sweeps, static_cast<long long>(eq->relu6_replaced),
                a.bias_absorption ? (", high bias absorbed in " + std::to_string(eq->biases_absorbed) + " channels").c_str()
                                  : "");
  if (a.adaround) {
    std::printf("AdaRound: %lld iterations per layer on %lld calibration images\n",
                static_cast<long long>(ptq.adaround_options.iterations), static_cast<long long>(result.adaround_images));
    for (const quant::AdaRoundLayer& l : result.adaround)
      std::printf("  %-24s output error %.4g -> %.4g (nearest -> learned), %lld of %lld weights rounded the other way\n",
                  l.name.c_str(), l.error_nearest, l.error_adaround, static_cast<long long>(l.changed),
                  static_cast<long long>(l.weights));
  }
  if (result.bias_corrected)
    std::printf("bias correction: %lld layers corrected\n", static_cast<long long>(*result.bias_corrected));

  // AdaRound and bias correction worked on each rank's own images: rank 0's result holds.
  if (comm.distributed() && (a.adaround || a.bias_correction)) train::broadcast_model_from_root(comm, *model);
  data::DataLoader test(test_set, {data::evaluation_batch_size(*test_set), false, 0, false, 1, 2});
  if (comm.distributed()) test.set_shard(comm.rank(), comm.size(), /*pad=*/false);
  const auto float_result = train::evaluate(*reference, test);
  const auto quant_result = train::evaluate(*model, test);
  std::printf("PTQ %s, %s observer, %lld calibration batches of %lld\n", a.preset.c_str(), a.observer.c_str(),
              static_cast<long long>(a.calib_batches), static_cast<long long>(a.batch_size));
  print_accuracy("float", float_result);
  print_accuracy(("fake-quantized " + a.preset).c_str(), quant_result);
  std::printf("accuracy change: %+.2f points\n", 100 * (quant_result.accuracy - float_result.accuracy));
  // Calibration and evaluation stream their batches: the peak follows the batch size.
  std::printf("peak memory: %.0f MiB\n", peak_memory_mib());

  data::Batch batch;
  data::DataLoader report_loader(test_set, {data::evaluation_batch_size(*test_set, a.report_images, int64_t{1} << 21), false, 0, false, 0, 1});
  report_loader.start_epoch(0);
  report_loader.next(batch);
  if (comm.is_root())
    std::printf("%s", quant::format_report(quant::quant_report(*float_twin, *model, layers, batch.images)).c_str());
  if (!out.empty()) {
    std::filesystem::create_directories(out);
    train::RunState state;
    state.model_name = resolve_model(a.model, source, a.checkpoint);
    state.best_accuracy = quant_result.accuracy;
    state.quant_config = config.to_json();
    record_data_settings(state, settings, *test_set, source.val_fraction);
    if (!source.classes.empty()) state.classes = source.classes;
    train::save_checkpoint(out + "/ptq.safetensors", *model, nullptr, state);
    std::printf("saved %s/ptq.safetensors\n", out.c_str());
  }
}

void run_qat(const QuantArgs& a) {
  train::Communicator& comm = train::Communicator::world();
  train::join_data_parallel_run(comm, a.batch_size, 0);
  apply_precision(a.precision, "qat");
  manual_seed(a.seed);
  nn::ModulePtr model;
  quant::QuantConfig config;
  train::RunState state;
  if (!a.resume.empty()) {
    state = train::read_checkpoint_state(a.resume);
    INTRAIN_CHECK(!state.quant_config.empty(), "--resume: '", a.resume, "' is not a QAT checkpoint");
    config = quant::QuantConfig::from_json(state.quant_config);
    model = load_float_weights(a.model, a.resume);
  } else {
    INTRAIN_CHECK(!a.checkpoint.empty(), "qat: pass the float model with --checkpoint (or --resume a QAT run)");
    model = load_float_weights(a.model, a.checkpoint);
    config.algorithm = quant::parse_algorithm(a.algo);
    config.weight_bits = a.wbits;
    config.activation_bits = a.abits;
    config.per_channel = !a.per_tensor;
    config.sat_quantize_weights = !a.clamp_only;
    if (a.first_last_bits) add_first_last_override(config, *model, a.first_last_bits);
  }
  const std::string source_path = a.resume.empty() ? a.checkpoint : a.resume;
  const train::RunState source = train::read_checkpoint_state(source_path);
  const DataSettings settings = resolve_data(a.data, source, source_path);
  INTRAIN_CHECK(a.resume.empty() || !a.val_fraction_given || a.val_fraction == source.val_fraction, "--val-fraction ",
                a.val_fraction, ": '", a.resume, "' holds out ", source.val_fraction, "; a resumed run keeps its split");
  // The float model's split by default: its validation images stay unseen.
  const double val_fraction = a.val_fraction_given ? a.val_fraction : source.val_fraction;
  const TrainingSets sets = make_training_sets(settings, val_fraction);
  check_images_fit(*model, *sets.selection, source, settings.dataset, source_path);
  const std::string out = (a.out.empty() && a.resume.empty()) || !comm.is_root()
                              ? ""
                              : claim_run_folder(a.out, !a.out.empty(), a.resume, a.overwrite);
  auto layers = quant::prepare_qat(*model, config);
  // The recipe's options (PACT's decay, batch-norm freezing) are the library's (quant/qat.hpp).
  const quant::QatRecipe recipe{.pact_decay = a.pact_decay, .freeze_bn_epoch = a.freeze_bn_epoch};
  const nn::SgdOptions sgd = quant::qat_sgd_options(*model, {a.momentum, 0.0, a.weight_decay, false}, recipe);
  nn::SGD optimizer(model->named_parameters(), a.lr, sgd);
  if (!a.resume.empty()) {
    state = train::load_checkpoint(a.resume, *model, &optimizer);
    if (!state.rng_state.empty()) default_generator().set_state(state.rng_state);
  }
  state.model_name = resolve_model(a.model, train::read_checkpoint_state(a.resume.empty() ? a.checkpoint : a.resume),
                                   a.resume.empty() ? a.checkpoint : a.resume);
  state.quant_config = config.to_json();
  record_data_settings(state, settings, *sets.base, val_fraction);
  data::DataLoader train_loader(sets.train, {a.batch_size / comm.size(), true, a.seed, false, 1, 4});
  data::DataLoader test_loader(sets.selection, {data::evaluation_batch_size(*sets.selection), false, 0, false, 1, 2});
  if (comm.distributed()) {
    train_loader.set_shard(comm.rank(), comm.size(), /*pad=*/true);
    test_loader.set_shard(comm.rank(), comm.size(), /*pad=*/false);
  }
  std::printf("QAT %s: weights %d bits, activations %d bits%s, %lld epochs, lr %g, %d threads\n",
              quant::algorithm_name(config.algorithm), config.weight_bits, config.activation_bits,
              a.first_last_bits ? (", first/last layers " + std::to_string(a.first_last_bits) + " bits").c_str() : "",
              static_cast<long long>(a.epochs), a.lr, num_threads());
  std::fflush(stdout);
  train::FitOptions options{.epochs = a.epochs, .base_lr = a.lr, .label_smoothing = 0.0f, .out_dir = out,
                            .progress = !a.no_progress, .max_steps_per_epoch = a.max_steps, .max_loss = a.max_loss,
                            .max_weight = a.max_weight, .on_epoch_start = {}, .selection_name = sets.selection_name};
  if (comm.distributed()) {
    // Observers see the global batch in training steps (not in the sharded evaluation), so
    // the ranks' ranges stay identical; --sync-bn reaches the batch norms that
    // QuantBatchNorm holds as well as the model's own.
    auto reducer = train::cross_rank_reducer(comm);
    auto scope = std::make_shared<std::optional<quant::ObserverReductionScope>>();
    options.on_training_steps = [reducer, scope](bool on) {
      if (on) scope->emplace(reducer);
      else scope->reset();
    };
    options.sync_batch_norm = a.sync_bn;
    for (auto& [name, m] : model->named_modules())
      if (auto* qbn = dynamic_cast<quant::QuantBatchNorm*>(m); qbn && a.sync_bn) qbn->bn().statistics_reducer = reducer;
  }
  options.on_epoch_start = [&model, recipe](int64_t epoch) { quant::qat_epoch_start(*model, recipe, epoch); };
  nn::CosineLr schedule(static_cast<double>(a.epochs));
  const auto results = train::fit(*model, optimizer, schedule, train_loader, &test_loader, options, state);
  if (!results.empty()) {
    std::printf("done: fake-quantized %s accuracy %.2f%% (best %.2f%%)", sets.selection_name.c_str(),
                100 * results.back().test_accuracy, 100 * state.best_accuracy);
    if (sets.selection_name == "val" && sets.test) {
      data::DataLoader test(sets.test, {data::evaluation_batch_size(*sets.test), false, 0, false, 1, 2});
      std::printf("; test accuracy %.2f%% (last model)", 100 * train::evaluate(*model, test).accuracy);
    }
    std::printf("%s\n", out.empty() ? "" : ("; checkpoints in " + out + "/").c_str());
  } else
    std::printf("nothing to train: the run already reached epoch %lld of --epochs %lld; raise --epochs to continue\n",
                static_cast<long long>(state.epoch), static_cast<long long>(a.epochs));
}

void run_report(const QuantArgs& a) {
  LoadedModel quantized = load_model(a.model, a.checkpoint);
  INTRAIN_CHECK(quantized.quant.has_value(), "quant-report: '", a.checkpoint, "' is a float checkpoint; ",
                "pass one written by intrain ptq or intrain qat");
  nn::ModulePtr reference = load_float_weights(a.model, a.checkpoint);
  const DataSettings settings = resolve_data(a.data, quantized.state, a.checkpoint);
  auto test_set = data::make_dataset(settings.dataset, data::Split::test, settings.options);
  check_images_fit(*reference, *test_set, quantized.state, settings.dataset, a.checkpoint);
  data::DataLoader loader(test_set, {data::evaluation_batch_size(*test_set, a.report_images, int64_t{1} << 21), false, 0, false, 0, 1});
  loader.start_epoch(0);
  data::Batch batch;
  loader.next(batch);
  std::printf("%s: %s, weights %d bits, activations %d bits\n", a.checkpoint.c_str(),
              quant::algorithm_name(quantized.quant->algorithm), quantized.quant->weight_bits,
              quantized.quant->activation_bits);
  std::printf("%s", quant::format_report(quant::quant_report(*reference, *quantized.model, quantized.layers, batch.images)).c_str());
}

void common_options(CLI::App* cmd, QuantArgs& a) {
  cmd->add_option("--model", a.model, "model (default: the one the checkpoint records)");
  add_data_options(cmd, a.data);
  cmd->add_option("--first-last-bits", a.first_last_bits, "bits for the first conv and last linear weights")->check(CLI::Range(0, 8));
}

}  // namespace

void add_quant_commands(CLI::App& app) {
  auto ptq = std::make_shared<QuantArgs>();
  CLI::App* p = app.add_subcommand("ptq", "post-training quantization: calibrate, evaluate, report");
  common_options(p, *ptq);
  p->add_option("--checkpoint", ptq->checkpoint, "float checkpoint")->required();
  p->add_option("--preset", ptq->preset, "w8a8, w8a8_pow2, w4a4, w4a8, w4, w2a2")->capture_default_str();
  p->add_option("--observer", ptq->observer, "minmax, moving_average, percentile, mse, kl")->capture_default_str();
  p->add_option("--calib-batches", ptq->calib_batches)->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  p->add_option("--batch-size", ptq->batch_size, "calibration batch size")->capture_default_str()->check(intrain::cli_limits::kBatch);
  p->add_option("--out", ptq->out, "folder for ptq.safetensors (default: none written; one holding a run is refused)");
  p->add_flag("--overwrite", ptq->overwrite, "replace the run the --out folder holds");
  p->add_flag("--bias-correction", ptq->bias_correction, "add back the mean output shift weight quantization causes");
  p->add_flag("--cle", ptq->cle, "cross-layer equalization before calibrating (ReLU6 in equalized pairs becomes ReLU)");
  p->add_flag("--bias-absorption", ptq->bias_absorption,
              "with --cle: move each ReLU input's high bias (beta - 3|gamma|) into the next layer's bias")
      ->needs("--cle");
  p->add_flag("--adaround", ptq->adaround, "learn each weight's rounding, layer by layer, on calibration images");
  p->add_option("--adaround-iterations", ptq->adaround_iterations, "Adam steps per layer")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  p->add_option("--adaround-images", ptq->adaround_images, "calibration images AdaRound reconstructs on")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  add_budget_options(p, ptq->budget);
  p->callback([ptq] { train::run_on_every_rank(train::Communicator::world(), [&] { run_ptq(*ptq); }); });

  auto qat = std::make_shared<QuantArgs>();
  qat->lr = 0.001;
  CLI::App* q = app.add_subcommand("qat", "quantization-aware training from a float checkpoint");
  common_options(q, *qat);
  q->add_option("--checkpoint", qat->checkpoint, "float checkpoint to start from");
  q->add_option("--resume", qat->resume, "continue a QAT run from its last.safetensors");
  q->add_option("--algo", qat->algo, "a registered algorithm: " + quant::quantizer_registry().names_joined())->capture_default_str();
  add_precision_option(q, qat->precision);
  q->add_option("--wbits", qat->wbits)->capture_default_str()->check(intrain::cli_limits::kWeightBits);
  q->add_option("--abits", qat->abits, "0: float activations")->capture_default_str()->check(intrain::cli_limits::kActivationBits);
  q->add_flag("--per-tensor", qat->per_tensor, "weights per tensor instead of per channel");
  q->add_flag("--clamp-only", qat->clamp_only, "SAT's first stage: tanh clamping without quantizing weights");
  q->add_option("--epochs", qat->epochs)->capture_default_str()->check(intrain::cli_limits::kEpochs);
  q->add_option("--batch-size", qat->batch_size)->capture_default_str()->check(intrain::cli_limits::kBatch);
  q->add_option("--lr", qat->lr, "base learning rate (cosine decay)")->capture_default_str()->check(intrain::cli_limits::kLearningRate);
  q->add_option("--momentum", qat->momentum)->capture_default_str()->check(intrain::cli_limits::kMomentum);
  q->add_option("--weight-decay", qat->weight_decay)->capture_default_str()->check(intrain::cli_limits::kUnitInterval);
  q->add_option("--pact-decay", qat->pact_decay, "weight decay of PACT's clipping levels")->capture_default_str()->check(intrain::cli_limits::kUnitInterval);
  q->add_option("--freeze-bn-epoch", qat->freeze_bn_epoch, "freeze batch-norm statistics from this epoch (0-based; -1: never)")->check(CLI::Range(int64_t{-1}, int64_t{100000}));
  q->add_option("--seed", qat->seed)->capture_default_str()->check(intrain::cli_limits::kSeed);
  q->add_option("--out", qat->out, "folder for checkpoints and metrics (default: none written, or the --resume folder; one holding another run is refused)");
  q->add_flag("--overwrite", qat->overwrite, "replace the run the --out folder holds");
  CLI::Option* val_fraction = q->add_option("--val-fraction", qat->val_fraction,
                  "part of the training set held out to choose the best checkpoint (default: the float checkpoint's)")
      ->check(CLI::Range(0.0, 0.9));
  q->add_option("--max-steps", qat->max_steps, "cut each epoch after this many steps")->check(intrain::cli_limits::kSteps);
  q->add_flag("--no-progress", qat->no_progress);
  q->add_flag("--sync-bn", qat->sync_bn, "under mpirun: batch-norm statistics over the global batch, not each rank's share");
  q->add_option("--max-loss", qat->max_loss, "stop as diverged when a step's loss passes this (0: only NaN/inf)")
      ->capture_default_str()->check(CLI::Range(0.0, 1e30));
  q->add_option("--max-weight", qat->max_weight, "stop as diverged when a weight's magnitude passes this (0: off)")
      ->capture_default_str()->check(CLI::Range(0.0, 1e30));
  q->callback([qat, val_fraction] {
    qat->val_fraction_given = val_fraction->count() > 0;
    train::run_on_every_rank(train::Communicator::world(), [&] { run_qat(*qat); });
  });

  auto report = std::make_shared<QuantArgs>();
  CLI::App* r = app.add_subcommand("quant-report", "per-layer SQNR, bits and size of a fake-quantized checkpoint");
  common_options(r, *report);
  r->add_option("--checkpoint", report->checkpoint, "checkpoint written by ptq or qat")->required();
  r->add_option("--images", report->report_images, "test images in the report batch (fewer for large images)")->capture_default_str()->check(intrain::cli_limits::kImages);
  r->callback([report] { run_report(*report); });
}

}  // namespace intrain::cli
