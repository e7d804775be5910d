#pragma once
// One thread budget for the whole process. INTRAIN_NUM_THREADS (default: all cores) sets
// it; own kernels, oneDNN (OpenMP) and OpenBLAS are all held to it, and OpenBLAS is only
// called from outside parallel regions, so the libraries never oversubscribe each other.
#include <cstdint>
#include <functional>

namespace intrain {

int num_threads();            // the budget; reads INTRAIN_NUM_THREADS on first use
void set_num_threads(int n);  // applies to own kernels, OpenMP/oneDNN and every listener

// Holds another library's thread pool to the budget: `apply` runs now with the budget and
// again on every set_num_threads. OpenBLAS registers itself this way from the GEMM that
// calls it (core/kernels/gemm.cpp), so the runtime part of core names no BLAS symbol and
// the int8 runtime (intrain-infer) links without OpenBLAS.
void follow_thread_budget(void (*apply)(int threads));

// Splits [0, n) into contiguous chunks of at least `grain` items and runs
// body(begin, end) on up to num_threads() threads. Runs inline when n <= grain or when
// already inside a parallel region.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body);

// While one is alive (and `active`), parallel_for on this thread runs inline: for work too
// small to be worth waking the other threads (LeNet's layers at batch 1 ran 1.6x slower on
// two threads than on one), and which a busy machine would otherwise stall on a
// descheduled thread.
class SerialRegion {
 public:
  explicit SerialRegion(bool active = true);
  ~SerialRegion();
  SerialRegion(const SerialRegion&) = delete;
  SerialRegion& operator=(const SerialRegion&) = delete;

 private:
  bool active_;
};

}  // namespace intrain
