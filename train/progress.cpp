#include "train/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace intrain::train {

ProgressBar::ProgressBar(std::string label, int64_t total_images, bool enabled)
    : label_(std::move(label)), total_(std::max<int64_t>(1, total_images)), enabled_(enabled),
      tty_(::isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

void ProgressBar::update(int64_t images_done, double running_loss) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_draw_ < std::chrono::milliseconds(150) && images_done < total_) return;
    last_draw_ = now;
    draw(images_done, running_loss, false);
  } else {
    const int tenth = static_cast<int>(10 * images_done / total_);
    if (tenth == last_tenth_ || tenth == 0) return;
    last_tenth_ = tenth;
    draw(images_done, running_loss, false);
  }
}

void ProgressBar::draw(int64_t done, double loss, bool final) {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
  constexpr int kWidth = 28;
  const int filled = static_cast<int>(kWidth * std::min<int64_t>(done, total_) / total_);
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < kWidth) bar += '>' + std::string(static_cast<size_t>(kWidth - filled - 1), ' ');
  std::fprintf(stderr, "%s%s [%s] %lld/%lld  %6.0f img/s  loss %.4f  %s %4.0fs%s", tty_ ? "\r" : "", label_.c_str(),
               bar.c_str(), static_cast<long long>(done), static_cast<long long>(total_), rate, loss,
               final ? "took" : "ETA", final ? seconds : eta, tty_ && !final ? "\033[K" : "\n");
  std::fflush(stderr);
}

void ProgressBar::finish(const std::string& summary) {
  if (enabled_ && tty_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "%s\n", summary.c_str());
}

}  // namespace intrain::train
