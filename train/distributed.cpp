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
#include "core/threads.hpp"

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

// Polls instead of MPI_Waitall so that a rank that never arrives ends the run: a dead
// peer usually makes mpirun end the job at once, but a stopped or deadlocked one would
// block a plain wait forever. Open MPI moves a non-blocking collective on only inside
// MPI calls, so the first two seconds poll without pause (a large bucket takes many
// rounds: sleeping between them made 16 MiB 20 times slower); a longer wait is for a late
// peer (rank 0 writing a checkpoint), and sleeps between polls to leave the core free.
void wait_for(std::vector<MPI_Request>& requests, const Communicator& comm, const char* what) {
  const auto start = std::chrono::steady_clock::now();
  while (true) {
    int done = 0;
    MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE);
    if (done) break;
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (waited > comm.timeout_seconds())
      comm.abort(std::string("the ") + what + " waited " + std::to_string(static_cast<int>(waited)) +
                 " s for the other ranks (the limit, INTRAIN_COLLECTIVE_TIMEOUT or --collective-timeout): a rank has "
                 "died, hangs or stopped taking part; the last checkpoint written is intact");
    if (waited > 2.0)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    else
      std::this_thread::yield();
  }
}

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
  wait_for(requests, *this, what);
  requests.clear();
}

void Communicator::progress() {
  auto& requests = in_flight();
  if (requests.empty()) return;
  // Open MPI moves a non-blocking collective on only inside MPI calls: a test now and then
  // while backward runs lets the started buckets travel meanwhile.
  int done = 0;
  MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE);
}

void Communicator::allreduce_sum(float* data, int64_t count, const char* what) {
  start_allreduce_sum(data, count);
  wait_all(what);
}

namespace {

// Waits for its own requests only: buckets of gradients started earlier stay in flight
// (synchronized batch norm and observers reduce in the middle of backward and forward).
void reduce_doubles(const Communicator& comm, double* data, int64_t count, MPI_Op op, const char* what) {
  if (comm.size() == 1) return;
  std::vector<MPI_Request> requests;
  for (int64_t begin = 0; begin < count; begin += kMaxPiece) {
    MPI_Request request;
    MPI_Iallreduce(MPI_IN_PLACE, data + begin, static_cast<int>(std::min(kMaxPiece, count - begin)), MPI_DOUBLE, op,
                   MPI_COMM_WORLD, &request);
    requests.push_back(request);
  }
  wait_for(requests, comm, what);
}

}  // namespace

void Communicator::allreduce_sum(double* data, int64_t count, const char* what) {
  reduce_doubles(*this, data, count, MPI_SUM, what);
}
void Communicator::allreduce_max(double* data, int64_t count, const char* what) {
  reduce_doubles(*this, data, count, MPI_MAX, what);
}

void Communicator::broadcast(void* data, int64_t bytes, const char* what, int root) {
  if (size_ == 1) return;
  auto* bytes_at = static_cast<char*>(data);
  std::vector<MPI_Request> requests;
  for (int64_t begin = 0; begin < bytes; begin += kMaxPiece) {
    MPI_Request request;
    MPI_Ibcast(bytes_at + begin, static_cast<int>(std::min(kMaxPiece, bytes - begin)), MPI_BYTE, root,
               MPI_COMM_WORLD, &request);
    requests.push_back(request);
  }
  wait_for(requests, *this, what);
}

void Communicator::broadcast(std::string& text, const char* what, int root) {
  if (size_ == 1) return;
  int64_t length = static_cast<int64_t>(text.size());
  broadcast(&length, sizeof length, what, root);
  text.resize(static_cast<size_t>(length));
  broadcast(text.data(), length, what, root);
}

namespace {

class CommunicatorReducer : public nn::CrossProcessReducer {
 public:
  explicit CommunicatorReducer(Communicator& comm) : comm_(comm) {}
  void sum(double* values, int64_t count, const char* what) override { comm_.allreduce_sum(values, count, what); }
  void max(double* values, int64_t count, const char* what) override { comm_.allreduce_max(values, count, what); }

 private:
  Communicator& comm_;
};

}  // namespace

void join_data_parallel_run(Communicator& comm, int64_t global_batch, double collective_timeout_seconds) {
  if (!comm.distributed()) return;
  if (collective_timeout_seconds > 0) comm.set_timeout_seconds(collective_timeout_seconds);
  INTRAIN_CHECK(global_batch <= 0 || global_batch % comm.size() == 0, "--batch-size ", global_batch,
                " is the global batch and must divide among the ", comm.size(), " ranks (rank ", comm.rank(), ")");
  if (!comm.is_root())
    INTRAIN_CHECK(std::freopen("/dev/null", "w", stdout), "rank ", comm.rank(), ": cannot silence stdout");
  const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  if (!std::getenv("INTRAIN_NUM_THREADS") && local && std::atoi(local) > 1)
    set_num_threads(std::max(1, num_threads() / std::atoi(local)));
}

void run_on_every_rank(Communicator& comm, const std::function<void()>& command) {
  if (!comm.distributed()) return command();
  try {
    command();
  } catch (const std::exception& e) {
    comm.abort(e.what());
  }
}

std::shared_ptr<nn::CrossProcessReducer> cross_rank_reducer(Communicator& comm) {
  return std::make_shared<CommunicatorReducer>(comm);
}

void Communicator::barrier(const char* what) {
  if (size_ == 1) return;
  std::vector<MPI_Request> requests(1);
  MPI_Ibarrier(MPI_COMM_WORLD, requests.data());
  wait_for(requests, *this, what);
}

}  // namespace intrain::train
