// Allreduce bandwidth and the gradient bucket size, under mpirun:
//   mpirun -np 2 build/bench/allreduce
// Prints, on rank 0, the time of an in-place float sum over the ranks for buffers of 4 KiB
// to 64 MiB: algorithm bandwidth (bytes / time) and bus bandwidth (x 2(N-1)/N, what a ring
// moves per rank, comparable across rank counts, as nccl-tests reports it); then the time
// to reduce 14 MiB of gradients (MobileNetV2's 3.5M parameters) in buckets of each size,
// all in flight together, as train/gradient_sync.cpp does.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "train/distributed.hpp"

using intrain::train::Communicator;

namespace {

// Median seconds of `body` over `reps` runs, each started together (barrier).
template <class F>
double median_seconds(Communicator& comm, int reps, F&& body) {
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    comm.barrier("benchmark barrier");
    const auto start = std::chrono::steady_clock::now();
    body();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main() {
  Communicator& comm = Communicator::world();
  const double ring = 2.0 * (comm.size() - 1) / comm.size();
  if (comm.is_root()) {
    std::printf("allreduce (sum of float32, in place) over %d rank(s)\n", comm.size());
    std::printf("%12s %12s %14s %14s\n", "bytes", "time (us)", "algbw (GB/s)", "busbw (GB/s)");
  }
  for (int64_t bytes = 4096; bytes <= (int64_t{64} << 20); bytes *= 4) {
    std::vector<float> data(static_cast<size_t>(bytes / 4), 1.0f);
    const int reps = bytes <= (1 << 20) ? 200 : 20;
    const double t = median_seconds(comm, reps, [&] { comm.allreduce_sum(data.data(), bytes / 4, "benchmark"); });
    if (comm.is_root())
      std::printf("%12lld %12.1f %14.2f %14.2f\n", static_cast<long long>(bytes), 1e6 * t, bytes / t / 1e9,
                  bytes / t / 1e9 * ring);
  }
  const int64_t total = int64_t{14} << 20;
  if (comm.is_root()) std::printf("\n14 MiB of gradients in buckets, all in flight together\n%12s %12s\n", "bucket", "time (ms)");
  std::vector<float> gradients(static_cast<size_t>(total / 4), 1.0f);
  for (int64_t bucket = 64 << 10; bucket <= total; bucket *= 4) {
    const double t = median_seconds(comm, 20, [&] {
      for (int64_t at = 0; at < total / 4; at += bucket / 4)
        comm.start_allreduce_sum(gradients.data() + at, std::min(bucket, total - at * 4) / 4);
      comm.wait_all("benchmark");
    });
    if (comm.is_root()) std::printf("%12lld %12.2f\n", static_cast<long long>(bucket), 1e3 * t);
  }
  return 0;
}
