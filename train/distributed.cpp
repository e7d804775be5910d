#include "train/distributed.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "core/error.hpp"

namespace intrain::train {

namespace {

// The requests started and not yet waited for; the world is the only communicator, and
// only the thread that runs training calls it (MPI_THREAD_FUNNELED).
std::vector<MPI_Request>& in_flight() {
  static std::vector<MPI_Request> requests;
  return requests;
}

// MPI counts are ints: larger buffers go in pieces of at most 2^30 elements.
constexpr int64_t kMaxPiece = int64_t{1} << 30;

}  // namespace

bool launched_by_mpi() {
  // Open MPI's mpirun, PMIx (srun --mpi=pmix, Open MPI 4+), and PMI-1/2 (srun --mpi=pmi2).
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"})
    if (std::getenv(name)) return true;
  return false;
}

Communicator& Communicator::world() {
  static Communicator world;
  return world;
}

Communicator::Communicator() {
  if (const char* timeout = std::getenv("INTRAIN_COLLECTIVE_TIMEOUT")) {
    char* end = nullptr;
    const double seconds = std::strtod(timeout, &end);
    INTRAIN_CHECK(end != timeout && *end == '\0' && seconds > 0, "INTRAIN_COLLECTIVE_TIMEOUT='", timeout,
                  "': expected a positive number of seconds");
    timeout_seconds_ = seconds;
  }
  if (!launched_by_mpi()) return;
  int already = 0;
  MPI_Initialized(&already);
  if (!already) {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    initialized_mpi_ = true;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

Communicator::~Communicator() {
  int finalized = 0;
  if (initialized_mpi_ && (MPI_Finalized(&finalized), !finalized)) MPI_Finalize();
}

void Communicator::set_timeout_seconds(double seconds) {
  INTRAIN_CHECK(seconds > 0, "collective timeout must be positive, got ", seconds);
  timeout_seconds_ = seconds;
}

void Communicator::abort(const std::string& message) const {
  std::fprintf(stderr, "intrain: rank %d of %d: error: %s\n", rank_, size_, message.c_str());
  std::fflush(stderr);
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, 1);
  std::exit(1);
}

void Communicator::start_allreduce_sum(float* data, int64_t count) {
  if (size_ == 1) return;
  for (int64_t begin = 0; begin < count; begin += kMaxPiece) {
    MPI_Request request;
    MPI_Iallreduce(MPI_IN_PLACE, data + begin, static_cast<int>(std::min(kMaxPiece, count - begin)), MPI_FLOAT,
                   MPI_SUM, MPI_COMM_WORLD, &request);
    in_flight().push_back(request);
  }
}

void Communicator::wait_all(const char* what) {
  auto& requests = in_flight();
  if (requests.empty()) return;
  // Polls instead of MPI_Waitall so that a rank that never arrives ends the run: a dead
  // peer usually makes mpirun end the job at once, but a stopped or deadlocked one would
  // block a plain wait forever. Open MPI moves a non-blocking collective on only inside
  // MPI calls, so the first two seconds poll without pause (a large bucket takes many
  // rounds: sleeping between them made 16 MiB 20 times slower); a longer wait is for a late
  // peer (rank 0 writing a checkpoint), and sleeps between polls to leave the core free.
  const auto start = std::chrono::steady_clock::now();
  while (true) {
    int done = 0;
    MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE);
    if (done) break;
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (waited > timeout_seconds_)
      abort(std::string("the ") + what + " waited " + std::to_string(static_cast<int>(waited)) +
            " s for the other ranks (the limit, INTRAIN_COLLECTIVE_TIMEOUT or --collective-timeout): a rank has "
            "died, hangs or stopped taking part; the last checkpoint written is intact");
    if (waited > 2.0)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    else
      std::this_thread::yield();
  }
  requests.clear();
}

void Communicator::allreduce_sum(float* data, int64_t count, const char* what) {
  start_allreduce_sum(data, count);
  wait_all(what);
}

void Communicator::allreduce_sum(double* data, int64_t count, const char* what) {
  if (size_ == 1) return;
  for (int64_t begin = 0; begin < count; begin += kMaxPiece) {
    MPI_Request request;
    MPI_Iallreduce(MPI_IN_PLACE, data + begin, static_cast<int>(std::min(kMaxPiece, count - begin)), MPI_DOUBLE,
                   MPI_SUM, MPI_COMM_WORLD, &request);
    in_flight().push_back(request);
  }
  wait_all(what);
}

void Communicator::broadcast(void* data, int64_t bytes, const char* what, int root) {
  if (size_ == 1) return;
  auto* bytes_at = static_cast<char*>(data);
  for (int64_t begin = 0; begin < bytes; begin += kMaxPiece) {
    MPI_Request request;
    MPI_Ibcast(bytes_at + begin, static_cast<int>(std::min(kMaxPiece, bytes - begin)), MPI_BYTE, root,
               MPI_COMM_WORLD, &request);
    in_flight().push_back(request);
  }
  wait_all(what);
}

void Communicator::broadcast(std::string& text, const char* what, int root) {
  if (size_ == 1) return;
  int64_t length = static_cast<int64_t>(text.size());
  broadcast(&length, sizeof length, what, root);
  text.resize(static_cast<size_t>(length));
  broadcast(text.data(), length, what, root);
}

void Communicator::barrier(const char* what) {
  if (size_ == 1) return;
  MPI_Request request;
  MPI_Ibarrier(MPI_COMM_WORLD, &request);
  in_flight().push_back(request);
  wait_all(what);
}

}  // namespace intrain::train
