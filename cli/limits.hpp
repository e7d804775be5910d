#pragma once
// The ranges the command-line options accept. CLI11 checks the text before converting it,
// so 99999999999999999999 or -1 is refused with the option's name instead of wrapping
// into a valid-looking number; the bounds are generous but finite (nothing trains with a
// batch of 2^21 images on a CPU, and a run with them would only exhaust memory).
#include <CLI/CLI.hpp>

#include <cstdint>

namespace intrain::cli_limits {

inline const CLI::Range kBatch(int64_t{1}, int64_t{1} << 20);
inline const CLI::Range kEpochs(int64_t{1}, int64_t{100000});
inline const CLI::Range kSteps(int64_t{0}, int64_t{1} << 40);  // 0: whole epochs
inline const CLI::Range kSeed(0.0, 18446744073709551615.0);
inline const CLI::Range kWorkers(int64_t{0}, int64_t{256});
inline const CLI::Range kLearningRate(0.0, 1e6);
inline const CLI::Range kUnitInterval(0.0, 1.0);
inline const CLI::Range kMomentum(0.0, 0.9999);
inline const CLI::Range kWidth(0.01, 8.0);
inline const CLI::Range kImageSize(int64_t{8}, int64_t{4096});
inline const CLI::Range kWeightBits(1, 8);
inline const CLI::Range kActivationBits(0, 8);
inline const CLI::Range kImages(int64_t{1}, int64_t{1} << 24);

}  // namespace intrain::cli_limits
