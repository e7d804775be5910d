#pragma once
// A one-line live progress bar for an epoch on stderr: done/total, images/s, running
// loss, ETA. On a terminal it redraws in place a few times a second; otherwise (logs, CI)
// it prints a line at each tenth of the epoch.
#include <chrono>
#include <cstdint>
#include <string>

namespace intrain::train {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total_images, bool enabled = true);
  void update(int64_t images_done, double running_loss);
  // Clears the bar and prints the epoch's summary line (also when the bar is disabled).
  void finish(const std::string& summary);

 private:
  void draw(int64_t images_done, double running_loss, bool final);
  std::string label_;
  int64_t total_;
  bool enabled_, tty_;
  int last_tenth_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace intrain::train
