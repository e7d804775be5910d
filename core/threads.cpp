#include "core/threads.hpp"

#include <omp.h>

#include <algorithm>
#include <mutex>
#include <vector>
#include <cstdlib>
#include <string>
#include <thread>

#include "core/error.hpp"

namespace intrain {

namespace {

int budget_from_environment() {
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const char* env = std::getenv("INTRAIN_NUM_THREADS");
  if (!env || !*env) return cores;
  char* end = nullptr;
  long n = std::strtol(env, &end, 10);
  INTRAIN_CHECK(*end == '\0' && n >= 1 && n <= 4096, "INTRAIN_NUM_THREADS: expected a positive ",
                "integer, got '", env, "'");
  return static_cast<int>(n);
}

int& budget() {
  static int n = [] {
    int value = budget_from_environment();
    omp_set_num_threads(value);
    return value;
  }();
  return n;
}

struct Followers {
  std::mutex mutex;
  std::vector<void (*)(int)> apply;
};
Followers& followers() {
  static Followers f;
  return f;
}

thread_local int serial_regions = 0;

}  // namespace

SerialRegion::SerialRegion(bool active) : active_(active) { serial_regions += active_; }
SerialRegion::~SerialRegion() { serial_regions -= active_; }

int num_threads() { return budget(); }

void set_num_threads(int n) {
  INTRAIN_CHECK(n >= 1, "set_num_threads: expected at least 1 thread, got ", n);
  budget() = n;
  omp_set_num_threads(n);
  Followers& f = followers();
  std::lock_guard lock(f.mutex);
  for (auto* apply : f.apply) apply(n);
}

void follow_thread_budget(void (*apply)(int threads)) {
  const int n = num_threads();
  Followers& f = followers();
  std::lock_guard lock(f.mutex);
  f.apply.push_back(apply);
  apply(n);
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t threads = std::min<int64_t>(num_threads(), (n + grain - 1) / grain);
  if (threads <= 1 || serial_regions > 0 || omp_in_parallel()) {
    body(0, n);
    return;
  }
  const int64_t chunk = (n + threads - 1) / threads;
  // Exceptions must not cross the OpenMP region: keep the first and rethrow after.
  std::exception_ptr failure;
#pragma omp parallel for num_threads(static_cast<int>(threads)) schedule(static, 1)
  for (int64_t t = 0; t < threads; ++t) {
    try {
      int64_t begin = t * chunk, end = std::min(n, begin + chunk);
      if (begin < end) body(begin, end);
    } catch (...) {
#pragma omp critical(intrain_parallel_for_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace intrain
